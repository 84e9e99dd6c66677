from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from infra import processes
from infra.processes import ProcessRecord


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_record_round_trips_through_its_pid_file(tmp_path: Path) -> None:
    record = ProcessRecord(pid=os.getpid(), started_at=psutil.Process().create_time(), command=["x", "y"])
    record.save(tmp_path / "run" / "svc.pid")
    assert ProcessRecord.load(tmp_path / "run" / "svc.pid") == record
    assert processes.is_running(record)


def test_stale_pid_file_of_a_dead_process_is_detected_and_removed(tmp_path: Path) -> None:
    pidfile = tmp_path / "svc.pid"
    ProcessRecord(pid=_dead_pid(), started_at=1.0, command=["gone"]).save(pidfile)
    record, stale = processes.live_record(pidfile)
    assert record is None and stale
    assert not pidfile.exists()


def test_a_reused_pid_is_not_mistaken_for_ours(tmp_path: Path) -> None:
    # Our own pid is alive, but with another start time it is some other process.
    pidfile = tmp_path / "svc.pid"
    ProcessRecord(pid=os.getpid(), started_at=psutil.Process().create_time() - 3600, command=["old"]).save(pidfile)
    record, stale = processes.live_record(pidfile)
    assert record is None and stale


def test_our_process_is_still_ours_after_the_clock_steps(tmp_path: Path) -> None:
    # A wall-clock step moves the start time psutil reports; the command line still names our process.
    moved = psutil.Process().create_time() - 240
    assert processes.is_running(ProcessRecord(pid=os.getpid(), started_at=moved, command=psutil.Process().cmdline()))
    assert not processes.is_running(ProcessRecord(pid=os.getpid(), started_at=moved, command=["other"]))


def test_a_script_run_by_its_interpreter_is_still_ours_after_the_clock_steps(tmp_path: Path) -> None:
    # What `llmops up` starts (the venv's `prefect`, `mlflow`) are #! scripts: the kernel reports
    # [python, script, args...] for them, not the command we ran.
    script = tmp_path / "serve"
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    script.chmod(0o755)
    record = processes.spawn(
        [str(script), "--port", "1"],
        env=dict(os.environ),
        log_path=tmp_path / "log",
        pidfile=tmp_path / "pid",
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(record.pid).cmdline()[1:] != record.command and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has exec'd the script
        moved = dataclasses.replace(record, started_at=record.started_at - 1.0)
        assert processes.is_running(moved)
        assert not processes.is_running(dataclasses.replace(moved, command=[str(script), "--port", "2"]))
    finally:
        processes.stop(record)


def test_garbage_pid_file_counts_as_stale(tmp_path: Path) -> None:
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text("not json")
    assert processes.live_record(pidfile) == (None, True)
    assert processes.live_record(pidfile) == (None, False)


def test_spawn_and_stop_take_the_children_down_too(tmp_path: Path) -> None:
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"  # noqa: E501
    record = processes.spawn(
        [sys.executable, "-c", script],
        env=dict(os.environ),
        log_path=tmp_path / "svc.log",
        pidfile=tmp_path / "svc.pid",
        cwd=tmp_path,
    )
    root = psutil.Process(record.pid)
    children: list[psutil.Process] = []
    for _ in range(50):
        children = root.children(recursive=True)
        if children:
            break
        psutil.wait_procs([], timeout=0.1)
    assert children, "the test process did not spawn its child"
    processes.stop(record, timeout_s=6)
    assert not processes.is_running(record)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert "starting:" in (tmp_path / "svc.log").read_text()


def test_port_in_use_is_detected() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not processes.port_is_free("127.0.0.1", port)
    assert processes.port_is_free("127.0.0.1", processes.free_port())


def test_log_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)))
    assert processes.log_tail(log, lines=3).splitlines() == ["line 97", "line 98", "line 99"]
    assert processes.log_tail(tmp_path / "missing.log") == "(no log written)"
