"""Run the server as a child process on a free loopback port: for tests and benchmarks.

The stack launcher (``infra/local_stack.py``) starts the long-lived server; this helper is for
code that needs a throw-away one and must also be able to kill it hard.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from infra.processes import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_POLL_S = 0.05


def write_credentials(path: Path, access_key_id: str, secret_access_key: str) -> Path:
    path.write_text(json.dumps({"access_key_id": access_key_id, "secret_access_key": secret_access_key}))
    path.chmod(0o600)
    return path


@dataclass
class ServerProcess:
    data_dir: Path
    credentials_file: Path
    log_path: Path
    port: int = field(default_factory=lambda: free_port(HOST))
    extra_args: list[str] = field(default_factory=list)  # more server options, e.g. ["--max-body-bytes", "1024"]
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> ServerProcess:
        """Start the server (again, on the same port and data) and wait until it is healthy."""
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra.lakefs_server",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--credentials-file",
                str(self.credentials_file),
                *self.extra_args,
            ],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.wait_healthy(timeout_s)
        except BaseException:
            self.kill()  # never leave a half-started server behind
            raise
        return self

    def wait_healthy(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/_health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(_POLL_S)
        raise TimeoutError(f"server not healthy after {timeout_s}s:\n{self.log_text()[-3000:]}")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self._close_log()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
