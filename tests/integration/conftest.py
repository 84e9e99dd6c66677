"""A local stack shared by the integration tests of one session (its own state dir and ports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmops.settings import Settings
from tests.conftest import running_test_stack


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The whole local stack, started once per test session and stopped at its end."""
    with running_test_stack(tmp_path_factory.mktemp("shared-stack") / "state") as (settings, _):
        yield settings
