"""The whole lifecycle cold, then rerun with unchanged data and config (goal: rerun <= 0.1 of cold).

Starts its own local stack in a temporary state directory on free ports and runs `lifecycle_flow`
in-process twice with the deployment's parameters (deployments/profiles/cpu-tiny.yaml, the built-in
corpus): ingest, prepare, index, pretrain, fine-tune, evaluate, release.

    python benchmarks/bench_lifecycle.py [--out results.json] [--max-steps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from infra import local_stack
from llmops.clients import use_stack
from llmops.prefect_api import prefect_context
from llmops.settings import load_settings
from tests.conftest import isolated_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--max-steps", type=int, default=0, help="fine-tuning steps (default: the profile's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(isolated_env(Path(tmp) / "state"))
        settings = load_settings()
        local_stack.up(settings, echo=lambda _: None)
        try:
            settings = load_settings()
            use_stack(settings)
            from deployments.profiles import load_profile
            from flows.lifecycle import lifecycle_flow

            # what the lifecycle deployment runs: the CPU profile of deployments/profiles/cpu-tiny.yaml
            params = load_profile("cpu-tiny")
            if args.max_steps:
                params["finetune"] = {**params["finetune"], "max_steps": args.max_steps}
            with prefect_context(settings):  # Prefect was imported (by `up`) before the stack's credentials existed
                t0 = time.perf_counter()
                first = lifecycle_flow(**params)
                cold = time.perf_counter() - t0
                t0 = time.perf_counter()
                second = lifecycle_flow(**params)
                warm = time.perf_counter() - t0
        finally:
            local_stack.down(settings, echo=lambda _: None)
    same = (first.data_commit, first.model_version, first.index_collection) == (
        second.data_commit,
        second.model_version,
        second.index_collection,
    )
    result = {
        "cold_s": round(cold, 1),
        "rerun_s": round(warm, 1),
        "ratio": round(warm / cold, 3),
        "goal": "rerun / cold <= 0.1",
        "met": warm / cold <= 0.1,
        "rerun_reused_everything": same,
        "load_avg": os.getloadavg(),
    }
    for key, value in result.items():
        print(f"{key:<24} {value}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
