"""The CLI as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import isolated_env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")} | env
    return subprocess.run(
        [sys.executable, "-m", "llmops.cli", *args], env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return isolated_env(tmp_path / "state")


def test_up_names_a_port_that_is_already_taken_and_starts_nothing(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        env["LLMOPS_MLFLOW_PORT"] = str(taken)
        result = run_cli("up", env=env)
    assert result.returncode == 1
    assert f"port {taken}" in result.stderr
    assert "LLMOPS_MLFLOW_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "state").glob("run/*.pid")), "nothing may be started when a port is taken"


def test_unknown_profile_is_a_clear_error(env: dict[str, str]) -> None:
    result = run_cli("--help", env=env)
    assert result.returncode == 0 and "up" in result.stdout
    result = run_cli("status", "--profile", "nope", env=env)
    assert result.returncode == 1
    assert "LLMOPS_PROFILE='nope' is not a known profile" in result.stderr


def test_config_masks_secrets(env: dict[str, str]) -> None:
    env["LLMOPS_MLFLOW_PASSWORD"] = "very-secret-value"
    result = run_cli("config", env=env)
    assert result.returncode == 0, result.stderr
    assert "very-secret-value" not in result.stdout
    assert "**********" in result.stdout


def test_status_of_a_stopped_stack_exits_nonzero(env: dict[str, str]) -> None:
    result = run_cli("status", env=env)
    assert result.returncode == 1
    assert "prefect" in result.stdout and "stopped" in result.stdout
