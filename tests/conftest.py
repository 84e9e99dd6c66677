"""Shared fixtures: settings for a throw-away state directory on free loopback ports."""

from __future__ import annotations

import os

# Nothing is downloaded at test time: models and metrics come from this repository and its packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.processes import free_port
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
        "LLMOPS_PREFECT_WORK_POOL": "llmops-test",
    }


@pytest.fixture
def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Local-profile settings in a temporary state directory (nothing is started)."""
    for key, value in isolated_env(tmp_path / "state").items():
        monkeypatch.setenv(key, value)
    yield load_settings()
