"""Cold start of the local stack: `llmops up` against starting the same servers by hand.

Side by side in one run: (a) our launcher (`local_stack.up`: port checks, pid files, health
checks, work pool, worker) and (b) the bare commands started with Popen and polled until their
health endpoints answer. Also times the no-op second `up` and `down`.

    python benchmarks/bench_stack.py [--out results.json] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra import local_stack, processes
from llmops.settings import load_settings
from tests.conftest import isolated_env


def _fresh_settings(root: Path):
    os.environ.update(isolated_env(root / "state"))
    return load_settings()


def ours(root: Path) -> dict[str, float]:
    settings = _fresh_settings(root)
    t0 = time.perf_counter()
    local_stack.up(settings, echo=lambda _: None)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    local_stack.up(settings, echo=lambda _: None)
    noop = time.perf_counter() - t0
    t0 = time.perf_counter()
    local_stack.down(settings, echo=lambda _: None)
    return {"cold_up_s": cold, "noop_up_s": noop, "down_s": time.perf_counter() - t0}


def bare(root: Path) -> dict[str, float]:
    """The same server commands, no worker: Popen them all and poll health."""
    settings = _fresh_settings(root)
    local_stack.ensure_credentials(settings)  # the servers start with authentication on, as `up` starts them
    settings = settings.with_local_credentials()
    specs = [s for s in local_stack.services(settings) if s.name != local_stack.WORKER]
    env = local_stack.base_env(settings)
    for d in ("prefect", "mlflow", "milvus", "lakefs"):
        settings.storage.service_dir(d).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            s.command, env=env | s.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        for s in specs
    ]
    pending = list(specs)
    deadline = time.monotonic() + 180
    while pending and time.monotonic() < deadline:
        pending = [s for s in pending if not s.health()]
        time.sleep(0.5)
    elapsed = time.perf_counter() - t0
    for p in procs:
        processes.stop(processes.ProcessRecord(p.pid, __import__("psutil").Process(p.pid).create_time(), []))
    if pending:
        raise RuntimeError(f"bare start did not become healthy: {[s.name for s in pending]}")
    return {"servers_healthy_s": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            rows.append({"run": i, "ours": ours(Path(a)), "bare": bare(Path(b))})
    best_ours = min(r["ours"]["cold_up_s"] for r in rows)
    best_bare = min(r["bare"]["servers_healthy_s"] for r in rows)
    summary = {
        "ours_cold_up_s (servers + work pool + worker)": round(best_ours, 2),
        "bare_servers_healthy_s": round(best_bare, 2),
        "ratio_ours_over_bare": round(best_ours / best_bare, 2),
        "ours_noop_up_s": round(min(r["ours"]["noop_up_s"] for r in rows), 2),
        "ours_down_s": round(min(r["ours"]["down_s"] for r in rows), 2),
    }
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
