"""Pretraining the embedded default on the built-in corpus: tokens/s, MFU on this CPU, held-out perplexity
and reading-exercise copy accuracy against training time; side by side with the previous default (900
steps of plain text, no exercises) and the recipe the issue measured (hidden 128, 4 layers, 256-token
blocks, 3e-3), given the same wall-clock budget as ours.

    python benchmarks/bench_pretrain.py [--out results.json] [--skip-reference]

MFU is model FLOPs per second (6 x parameters + attention, per token, forward and backward) over the
peak this machine reaches on a large fp32 matrix product with the same threads, measured first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tasks.ingest import PYTHON_DOCS_URI, SourceConfig, read_batches
from tasks.prepare import PrepConfig, prepare_dataset
from tasks.pretrain import PretrainConfig, document_texts, pretrain, split_heldout
from tasks.pretrain.data import Document, documents, heldout_ids


def matmul_peak_gflops(size: int = 2048, seconds: float = 3.0) -> float:
    """fp32 GFLOP/s of repeated size x size matrix products (the best of short rounds)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - t0) / 1e9)
    return best


class Corpus(NamedTuple):
    train: list[str]
    heldout: list[str]
    exercise_docs: list[Document]
    heldout_exercise_docs: list[Document]


def corpus() -> Corpus:
    """The built-in corpus as the pretrain stage splits it (exercises never from eval-pair documents)."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        prepare_dataset(read_batches([PYTHON_DOCS_URI], SourceConfig()), PrepConfig(), Path(tmp))
        docs = pd.concat([pd.read_parquet(p) for p in sorted(Path(tmp, "corpus").glob("*.parquet"))])
        evals = pd.concat([pd.read_parquet(p) for p in sorted(Path(tmp, "prepared", "eval").glob("*.parquet"))])
    config = PretrainConfig()
    rows = docs.to_dict("records")
    texts = document_texts(rows)
    train, heldout = split_heldout(texts, config.heldout_fraction, config.seed)
    held = heldout_ids([doc_id for doc_id, _ in texts], config.heldout_fraction, config.seed)
    kept = {json.loads(m).get("derived_from") for m in evals["meta"].dropna()}
    readable = documents(rows)
    return Corpus(
        train,
        heldout,
        [d for d in readable if d.id not in held and d.id not in kept],
        [d for d in readable if d.id in held],
    )


def run(config: PretrainConfig, data: Corpus, peak: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = pretrain(
            config,
            data.train,
            data.heldout,
            Path(tmp) / "run",
            corpus_digest="bench",
            exercise_docs=data.exercise_docs,
            heldout_exercise_docs=data.heldout_exercise_docs,
        )
    mfu = result.flops_per_token * result.tokens_per_s / (peak * 1e9)
    return {
        "config": config.model_dump(
            include={
                "hidden_size",
                "num_hidden_layers",
                "seq_length",
                "batch_size",
                "max_steps",
                "learning_rate",
                "vocab_size",
                "exercise_fraction",
            }
        ),
        "parameters": result.parameters,
        "train_tokens": result.train_tokens,
        "tokens_per_s": round(result.tokens_per_s),
        "mfu": round(mfu, 3),
        "train_seconds": result.curve[-1].seconds,
        "wall_seconds": round(result.wall_s, 1),
        "initial_heldout_perplexity": round(result.initial_heldout_perplexity, 1),
        "heldout_perplexity": round(result.heldout_perplexity or math.nan, 1),
        "heldout_copy_accuracy": _rounded(result.heldout_copy_accuracy),
        "curve": [
            (p.seconds, p.step, round(p.heldout_perplexity, 1), _rounded(p.heldout_copy_accuracy)) for p in result.curve
        ],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--skip-reference", action="store_true", help="only the default recipe")
    args = parser.parse_args()
    peak = matmul_peak_gflops()
    data = corpus()
    print(f"matmul peak {peak:.0f} GFLOP/s; {len(data.train)} training and {len(data.heldout)} held-out documents")
    ours = run(PretrainConfig(), data, peak)
    results = {"matmul_peak_gflops": round(peak), "default": ours}
    if not args.skip_reference:
        # The previous default: 900 steps of plain text, no reading exercises.
        results["plain"] = run(PretrainConfig(max_steps=900, exercise_fraction=0.0), data, peak)
        # The starting point, given the same training time as ours.
        budget = ours["train_seconds"]
        per_step = ours["train_seconds"] / ours["config"]["max_steps"] * 2  # twice the tokens per step
        steps = max(50, int(budget / per_step))
        reference = PretrainConfig(
            seq_length=256,
            batch_size=16,
            learning_rate=3e-3,
            max_steps=steps,
            warmup_steps=min(50, steps // 10),
            eval_every_steps=max(1, steps // 6),
            save_every_steps=10_000,
            exercise_fraction=0.0,
        )
        results["reference"] = run(reference, data, peak)
    print(f"{'recipe':<10} {'params':>9} {'tokens/s':>9} {'MFU':>6} {'train s':>8} {'held-out ppl':>16} {'copy':>6}")
    for name in ("default", "plain", "reference"):
        if name in results:
            r = results[name]
            copy = "-" if r["heldout_copy_accuracy"] is None else f"{r['heldout_copy_accuracy']:.3f}"
            print(
                f"{name:<10} {r['parameters']:>9,} {r['tokens_per_s']:>9,} {r['mfu']:>6.1%} {r['train_seconds']:>8.0f} "
                f"{r['initial_heldout_perplexity']:>8} -> {r['heldout_perplexity']:<5} {copy:>6}"
            )
    print("held-out perplexity and copy accuracy against training time (s, step, ppl, copy):", ours["curve"])
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
