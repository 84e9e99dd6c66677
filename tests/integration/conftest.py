"""A local stack shared by the integration tests of one session (its own state dir and ports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra import local_stack
from llmops.settings import Settings, load_settings
from tests.conftest import isolated_env


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The whole local stack, started once per test session and stopped at its end."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in isolated_env(tmp_path_factory.mktemp("shared-stack") / "state").items():
            mp.setenv(key, value)
        settings = load_settings()
        try:
            local_stack.up(settings)
            settings = load_settings()  # again: `up` created the lakeFS credentials
            from llmops.clients import use_stack

            use_stack(settings)
            yield settings
        finally:
            local_stack.down(settings)
