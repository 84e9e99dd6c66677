"""Drift check calibration on hand-written traffic: the training-prompt reference (before) against a traffic
reference (now), side by side in one run.

Traffic: tests/data/drift/python_traffic.jsonl, 400 questions on 16 established topics and 200 on 8 new topics
of the same domain, written by hand for this (not by the project's generators). Windows are drawn without
replacement from the established questions:

- false alarms: the current window has only established questions; reference either 200 training prompts
  derived from the built-in corpus (before) or 200 other established questions (now);
- power: a share (5%, 10%, 30%) of the current window is replaced by questions of the new topics;
- window sizes 50, 100 and 200 current requests against a 200-request reference (the default).

Only the prompt-embedding sub-tests run (no outputs or retrieval scores), at alpha 0.05.

    python benchmarks/bench_drift_reference.py [--trials 200] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from scipy.stats import beta

from tasks.monitor.drift import DriftPolicy, check_drift
from tasks.services.embedding import embed
from tests.unit.monitor.traffic import drift_trials, python_traffic, training_prompts

N_REFERENCE = 200  # the default reference_requests
WINDOWS = (50, 100, 200)
SHIFTS = (0.05, 0.10, 0.30)


def interval(hits: int, trials: int) -> list[float]:
    """Two-sided 95% Clopper-Pearson interval."""
    low = 0.0 if hits == 0 else float(beta.ppf(0.025, hits, trials - hits + 1))
    high = 1.0 if hits == trials else float(beta.ppf(0.975, hits + 1, trials - hits))
    return [round(low, 3), round(high, 3)]


def rate(reports) -> dict:
    hits = sum(r.drifted for r in reports)
    return {"rate": round(hits / len(reports), 3), "ci95": interval(hits, len(reports)), "trials": len(reports)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per no-shift cell")
    parser.add_argument("--shift-trials", type=int, default=100, help="trials per shifted cell")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    traffic = python_traffic()
    started = time.perf_counter()
    established, new = embed(traffic.established), embed(traffic.new)
    prompts = embed(list(training_prompts(1000)))
    embed_s = time.perf_counter() - started

    results: dict[str, dict] = {"false_alarms": {}, "power": {}}
    started = time.perf_counter()
    for n_current in WINDOWS:
        # before: reference = training prompts; the current window = established traffic
        rng = np.random.default_rng(n_current)
        before = [
            check_drift(
                prompts[rng.choice(len(prompts), size=N_REFERENCE, replace=False)],
                established[rng.choice(len(established), size=n_current, replace=False)],
                policy=DriftPolicy(seed=i),
            )
            for i in range(args.trials)
        ]
        now = drift_trials(established, new, rng, args.trials, n_reference=N_REFERENCE, n_current=n_current, shift=0.0)
        results["false_alarms"][str(n_current)] = {"before_training_prompts": rate(before), "now_traffic": rate(now)}
        for shift in SHIFTS:
            shifted = drift_trials(
                established, new, rng, args.shift_trials, n_reference=N_REFERENCE, n_current=n_current, shift=shift
            )
            results["power"][f"{n_current}@{shift:.0%}"] = rate(shifted)
    stats_s = time.perf_counter() - started

    print(
        f"Hand-written traffic: {len(traffic.established)} established, {len(traffic.new)} new-topic questions; "
        f"{len(prompts)} training prompts. Embedding {embed_s:.1f} s, checks {stats_s:.1f} s.\n"
    )
    print(f"False alarms at alpha 0.05, reference {N_REFERENCE} rows ({args.trials} trials each, 95% CI):")
    print(f"  {'current':>8}  {'before: training prompts':>28}  {'now: traffic':>24}")
    for n_current, row in results["false_alarms"].items():
        b, n = row["before_training_prompts"], row["now_traffic"]
        print(f"  {n_current:>8}  {b['rate']:>8.1%} {str(b['ci95']):>19}  {n['rate']:>8.1%} {str(n['ci95']):>15}")
    print(f"\nPower against a shift to new topics within the domain (traffic reference, {args.shift_trials} trials):")
    print(f"  {'current':>8}  " + "  ".join(f"{s:>14.0%}" for s in SHIFTS))
    for n_current in WINDOWS:
        cells = [results["power"][f"{n_current}@{s:.0%}"] for s in SHIFTS]
        print(f"  {n_current:>8}  " + "  ".join(f"{c['rate']:>6.1%} {str(c['ci95']):>7}" for c in cells))
    if args.out:
        args.out.write_text(json.dumps({"embed_s": embed_s, "checks_s": stats_s, **results}, indent=2))


if __name__ == "__main__":
    main()
