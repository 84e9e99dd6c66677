"""Shared fixtures: settings for a throw-away state directory on free loopback ports."""

from __future__ import annotations

import os

# Nothing is downloaded at test time: models and metrics come from this repository and its packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra import local_stack
from infra.processes import free_port
from llmops.clients import process_env
from llmops.settings import Settings, load_settings


def isolated_env(state_dir: Path) -> dict[str, str]:
    """Environment that points every setting at `state_dir` and at ports nothing else uses."""
    return {
        "LLMOPS_PROFILE": "local",
        "LLMOPS_STATE_DIR": str(state_dir),
        "LLMOPS_PREFECT_PORT": str(free_port()),
        "LLMOPS_MLFLOW_PORT": str(free_port()),
        "LLMOPS_LAKEFS_PORT": str(free_port()),
        "LLMOPS_MILVUS_PORT": str(free_port()),
        "LLMOPS_SERVE_PORT": str(free_port()),
        "LLMOPS_PREFECT_WORK_POOL": "llmops-test",
    }


@pytest.fixture
def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Local-profile settings in a temporary state directory (nothing is started)."""
    for key, value in isolated_env(tmp_path / "state").items():
        monkeypatch.setenv(key, value)
    yield load_settings()


def release_prefect_workers(timeout_s: float = 30.0) -> None:
    """Deliver this process's queued Prefect events and logs, and drop the background workers that send them.

    Each worker keeps the API URL it first saw. Left alone after its stack stops, it keeps the next
    stack's events from arriving, and at interpreter exit it retries every queued item against the
    dead server for minutes.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    EventsWorker.drain_all(timeout=timeout_s, at_exit=False)
    APILogWorker.drain_all(timeout=timeout_s, at_exit=False)


@contextmanager
def running_test_stack(state_dir: Path) -> Iterator[tuple[Settings, list[str]]]:
    """Start a whole stack in `state_dir` on free ports and point this process at it; undo both on exit.

    Yields the settings (read again after `up`, which creates the lakeFS credentials) and the services
    `up` started.
    """
    with pytest.MonkeyPatch.context() as mp:
        for key, value in isolated_env(state_dir).items():
            mp.setenv(key, value)
        settings = load_settings()
        try:
            started = local_stack.up(settings)
            settings = load_settings()
            for key, value in process_env(settings).items():  # restored on exit, whatever changed them since
                mp.setenv(key, value)
            yield settings, started
        finally:
            release_prefect_workers()
            local_stack.down(settings)


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The whole local stack, started once per test session (for the integration and e2e tiers alike)."""
    with running_test_stack(tmp_path_factory.mktemp("shared-stack") / "state") as (settings, _):
        yield settings
