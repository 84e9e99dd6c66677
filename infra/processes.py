"""Start, find and stop the background processes of the local stack, by pid file.

A pid file records the pid *and* the process start time, so a pid reused by the system after a
crash is never mistaken for ours; such a stale file is detected and removed. Each service runs in
its own session (process group), so stopping it also stops the children it spawned.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

# Start times from psutil are floats rounded differently across calls; a pid reused by another
# process starts at least a clock tick later, far more than this.
_START_TIME_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class ProcessRecord:
    """What a pid file holds about one process we started."""

    pid: int
    started_at: float  # psutil create_time of the process
    command: list[str]

    def save(self, pidfile: Path) -> None:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        tmp = pidfile.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(pidfile)

    @classmethod
    def load(cls, pidfile: Path) -> ProcessRecord | None:
        """The record in `pidfile`, or None when there is none or it is unreadable."""
        try:
            data = json.loads(pidfile.read_text())
            return cls(pid=int(data["pid"]), started_at=float(data["started_at"]), command=list(data["command"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None


def is_running(record: ProcessRecord) -> bool:
    """True if the recorded process is alive and is the very process we started: the same start time,
    or the same command line (psutil derives start times from the wall clock at boot, so a clock step,
    as NTP makes on a virtual machine, moves every start time it reports)."""
    try:
        proc = psutil.Process(record.pid)
        same_start = abs(proc.create_time() - record.started_at) <= _START_TIME_TOLERANCE_S
        if not same_start and not _runs(proc.cmdline(), record.command):
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _runs(cmdline: list[str], command: list[str]) -> bool:
    """Whether a process's command line is `command`: as given, or run by its interpreter (a script
    with a #! line, like the venv's `prefect`, shows as [python, script, args...])."""
    return bool(command) and (cmdline == command or (len(cmdline) > len(command) and cmdline[1:] == command))


def live_record(pidfile: Path) -> tuple[ProcessRecord | None, bool]:
    """(record, stale): the live process behind `pidfile`, removing the file if it is stale."""
    if not pidfile.exists():
        return None, False
    record = ProcessRecord.load(pidfile)
    if record is not None and is_running(record):
        return record, False
    pidfile.unlink(missing_ok=True)
    return None, True


def spawn(command: list[str], *, env: dict[str, str], log_path: Path, pidfile: Path, cwd: Path) -> ProcessRecord:
    """Start `command` detached in its own session, output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record = ProcessRecord(pid=proc.pid, started_at=psutil.Process(proc.pid).create_time(), command=command)
    record.save(pidfile)
    return record


def stop(record: ProcessRecord, timeout_s: float = 15.0) -> None:
    """Stop one process and everything it spawned (see `stop_all`)."""
    stop_all([record], timeout_s)


def stop_all(records: list[ProcessRecord], timeout_s: float = 15.0) -> None:
    """Stop the processes and everything they spawned, together: SIGINT, then SIGTERM, then SIGKILL.

    SIGINT first because a Prefect worker whose server is already gone ignores SIGTERM.
    """
    family: list[psutil.Process] = []
    for record in records:
        if not is_running(record):
            continue
        try:
            root = psutil.Process(record.pid)
            family += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if not family:
            return
        for proc in family:
            try:
                proc.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        _, family = psutil.wait_procs(family, timeout=timeout_s / 3)


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (we try to bind it, as the service would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16_384))
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"
