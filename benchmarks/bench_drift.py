"""Drift check on 10,000 reference against 10,000 current prompts, against the bare libraries.

Reported separately: (1) embedding the 20,000 prompts with all-MiniLM-L6-v2 on CPU, and (2) the statistics
on precomputed embeddings at the full 10,000 vs 10,000. Side by side for (2):

- ours: `check_drift` with the default policy (classifier on 2,000 rows per side with 199 within-fold
  permutations; MMD on 1,000 per side with 199 permutations; output and retrieval tests), and each
  embedding sub-test alone;
- bare: sklearn `cross_val_predict` + `roc_auc_score` with no calibration, on all 20,000 rows and on the
  same 2,000-per-side PCA features ours uses; one MMD^2 on the same 1,000-per-side subsample, no permutations;
- naive calibration: the bare sklearn classifier rerun once per permutation (timed on a few, extrapolated
  to 199 and labelled so), which is what the batched fit replaces.

    python benchmarks/bench_drift.py [--out results.json] [--embed-sample 2000] [--repeats 3]

`--embed-sample N` embeds N of the prompts, reports the measured rate and the extrapolated time for
20,000, and builds both 10,000-row windows by resampling those N embeddings with replacement (the same
distribution, so no drift); `--embed-sample 0` embeds all 20,000 (about 100-350 s on 2 shared CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from tasks.monitor import drift
from tasks.monitor.statistics.classifier import _whitened_components
from tasks.services.embedding import embed, load_embedder
from tests.unit.monitor.prompt_pools import REFUSALS, python_answers, python_questions

WINDOW = 10_000
NAIVE_PERMUTATIONS_TIMED = 3


def timed(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def build_windows(embed_sample: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    prompts = python_questions(2 * WINDOW, seed=0, templates_per_item=6)
    if len(prompts) < 2 * WINDOW:
        raise SystemExit(f"only {len(prompts)} distinct prompts; need {2 * WINDOW}")
    started = time.perf_counter()
    load_embedder()
    load_s = time.perf_counter() - started
    embed(prompts[:64])  # warm-up: first batches pay one-off allocations
    count = 2 * WINDOW if embed_sample <= 0 else min(embed_sample, 2 * WINDOW)
    started = time.perf_counter()
    vectors = embed(prompts[:count], batch_size=64)
    embed_s = time.perf_counter() - started
    rate = count / embed_s
    info = {
        "model_load_s": round(load_s, 2),
        "prompts_embedded": count,
        "embed_measured_s": round(embed_s, 2),
        "embed_rate_per_s": round(rate, 1),
        "embed_20000_s": round(2 * WINDOW / rate, 1),
        "embed_20000_is": "measured" if count == 2 * WINDOW else f"extrapolated from {count} prompts",
    }
    if count == 2 * WINDOW:
        return vectors[:WINDOW], vectors[WINDOW:], info | {"windows": "20,000 distinct prompts"}
    # Both windows from the same embedded prompts: no drift by construction. (Two disjoint halves would be two
    # different finite populations, a real difference that 10,000 rows per side detect.)
    reference = vectors[rng.integers(0, count, WINDOW)]
    current = vectors[rng.integers(0, count, WINDOW)]
    return reference, current, info | {"windows": f"both resampled with replacement from {count} embedded prompts"}


def outputs(rng: np.random.Generator, n: int) -> list[str]:
    answers = python_answers(seed=1)
    return [REFUSALS[0] if rng.random() < 0.03 else answers[i % len(answers)] for i in range(n)]


def bare_classifier(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    scores = cross_val_predict(LogisticRegression(max_iter=1000), x, y, cv=folds, method="decision_function")
    return float(roc_auc_score(y, scores))


def bare_mmd(reference: np.ndarray, current: np.ndarray) -> float:
    """One unbiased MMD^2 with the same kernel and bandwidth rule, no permutations."""
    pooled = np.vstack([reference, current])
    norms = np.einsum("ij,ij->i", pooled, pooled)
    sq = np.maximum(norms[:, None] + norms[None, :] - 2 * pooled @ pooled.T, 0)
    n, m = len(reference), len(current)
    kernel = np.exp(-sq / (2 * np.median(sq[np.triu_indices(n + m, 1)])))
    xx, yy, xy = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    return float((xx.sum() - n) / (n * (n - 1)) + (yy.sum() - m) / (m * (m - 1)) - 2 * xy.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--embed-sample", type=int, default=2000, help="prompts to embed and extrapolate from (0: embed all 20,000)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    policy = drift.DriftPolicy()

    reference, current, embedding = build_windows(args.embed_sample, rng)
    ref_out, cur_out = outputs(rng, WINDOW), outputs(rng, WINDOW)
    ref_top1, cur_top1 = rng.normal(0.7, 0.08, WINDOW), rng.normal(0.7, 0.08, WINDOW)

    rows: dict[str, dict] = {}

    def record(key: str, what: str, fn, repeats: int = args.repeats):
        seconds, result = timed(fn, repeats)
        rows[key] = {"what": what, "seconds": round(seconds, 3)}
        return result

    report = record(
        "ours_check_drift",
        "check_drift, default policy, all 5 sub-tests, 10k vs 10k",
        lambda: drift.check_drift(reference, current, ref_out, cur_out, ref_top1, cur_top1, policy),
    )
    classifier = record(
        "ours_classifier",
        f"domain classifier: 2,000/side, PCA {policy.classifier_components}, 5-fold CV, "
        f"{policy.permutations} permutations",
        lambda: drift.domain_classifier_test(
            reference, current, permutations=policy.permutations, max_per_side=policy.classifier_max_samples, seed=0
        ),
    )
    record(
        "ours_classifier_no_subsample",
        f"domain classifier on all 10,000/side, {policy.permutations} permutations",
        lambda: drift.domain_classifier_test(reference, current, permutations=policy.permutations, seed=0),
        repeats=1,
    )
    mmd = record(
        "ours_mmd",
        f"MMD^2: 1,000/side, {policy.permutations} permutations",
        lambda: drift.mmd_test(
            reference, current, permutations=policy.permutations, max_per_side=policy.mmd_subsample, seed=0
        ),
    )

    y_full = np.r_[np.zeros(WINDOW), np.ones(WINDOW)]
    auc_full = record(
        "bare_classifier_full",
        "sklearn cross_val_predict + roc_auc_score, 20,000 x 384, no calibration",
        lambda: bare_classifier(np.vstack([reference, current]), y_full, 0),
        repeats=1,
    )
    pick = np.random.default_rng(1)
    sub_ref = reference[pick.choice(WINDOW, policy.classifier_max_samples, replace=False)]
    sub_cur = current[pick.choice(WINDOW, policy.classifier_max_samples, replace=False)]
    features = _whitened_components(np.vstack([sub_ref, sub_cur]), policy.classifier_components)
    y_sub = np.r_[np.zeros(len(sub_ref)), np.ones(len(sub_cur))]
    auc_sub = record(
        "bare_classifier_same_input",
        "sklearn cross_val_predict + roc_auc_score on our 2,000/side PCA features, no calibration",
        lambda: bare_classifier(features, y_sub, 0),
    )
    naive_one, _ = timed(
        lambda: [bare_classifier(features, pick.permutation(y_sub), s) for s in range(NAIVE_PERMUTATIONS_TIMED)], 1
    )
    rows["naive_calibration"] = {
        "what": f"sklearn loop: bare classifier once per permutation, {NAIVE_PERMUTATIONS_TIMED} timed, "
        f"extrapolated to {policy.permutations} + 1 fits",
        "seconds": round(naive_one / NAIVE_PERMUTATIONS_TIMED * (policy.permutations + 1), 2),
        "extrapolated": True,
    }
    mmd_ref = reference[pick.choice(WINDOW, policy.mmd_subsample, replace=False)]
    mmd_cur = current[pick.choice(WINDOW, policy.mmd_subsample, replace=False)]
    record("bare_mmd", "one MMD^2 on 1,000/side, numpy, no permutations", lambda: bare_mmd(mmd_ref, mmd_cur))

    def ratio(slow: str, fast: str) -> float:
        return round(rows[slow]["seconds"] / rows[fast]["seconds"], 1)

    overhead = {
        "classifier_calibration_x": ratio("ours_classifier", "bare_classifier_same_input"),
        "mmd_permutations_x": ratio("ours_mmd", "bare_mmd"),
        "batched_vs_naive_calibration_x": ratio("naive_calibration", "ours_classifier"),
    }
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "processor": platform.machine()},
        "embedding": embedding,
        "statistics": rows,
        "overhead": overhead,
        "verdicts": {
            "drifted": report.drifted,
            "ours_classifier_auc": round(classifier.statistic, 4),
            "ours_classifier_p": round(classifier.p_value, 4),
            "bare_classifier_auc_full": round(auc_full, 4),
            "bare_classifier_auc_same_input": round(auc_sub, 4),
            "ours_mmd2": float(f"{mmd.statistic:.4g}"),
            "ours_mmd_p": round(mmd.p_value, 4),
        },
    }

    print(f"Embedding ({embedding['windows']}):")
    print(
        f"  model load {embedding['model_load_s']} s; {embedding['prompts_embedded']} prompts in "
        f"{embedding['embed_measured_s']} s = {embedding['embed_rate_per_s']} prompts/s; "
        f"20,000 prompts: {embedding['embed_20000_s']} s ({embedding['embed_20000_is']})"
    )
    print(
        "\nStatistics on precomputed embeddings, 10,000 reference vs 10,000 current (best of "
        f"{args.repeats}; bare full-data classifier once):"
    )
    print(f"  {'':28} {'seconds':>9}  what")
    for key, row in rows.items():
        print(f"  {key:28} {row['seconds']:>9.3f}  {row['what']}")
    print("\nOverhead: " + ", ".join(f"{k} {v}" for k, v in overhead.items()))
    print("Verdicts: " + ", ".join(f"{k} {v}" for k, v in results["verdicts"].items()))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
