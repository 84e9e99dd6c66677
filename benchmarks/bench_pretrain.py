"""Pretraining the embedded default on the built-in corpus: tokens/s, MFU on this CPU, held-out perplexity
against training time; side by side with the recipe the issue measured (hidden 128, 4 layers, 256-token
blocks, 3e-3), given the same wall-clock budget.

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tasks.ingest import PYTHON_DOCS_URI, SourceConfig, read_batches
from tasks.prepare import PrepConfig, prepare_dataset
from tasks.pretrain import PretrainConfig, document_texts, pretrain, split_heldout


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


def corpus_texts() -> tuple[list[str], list[str]]:
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        prepare_dataset(read_batches([PYTHON_DOCS_URI], SourceConfig()), PrepConfig(), Path(tmp))
        docs = pd.concat([pd.read_parquet(p) for p in sorted(Path(tmp, "corpus").glob("*.parquet"))])
    config = PretrainConfig()
    return split_heldout(document_texts(docs.to_dict("records")), config.heldout_fraction, config.seed)


def run(config: PretrainConfig, train: list[str], heldout: list[str], peak: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = pretrain(config, train, heldout, Path(tmp) / "run", corpus_digest="bench")
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
        "curve": [(p.seconds, p.step, round(p.heldout_perplexity, 1)) for p in result.curve],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--skip-reference", action="store_true", help="only the default recipe")
    args = parser.parse_args()
    peak = matmul_peak_gflops()
    train, heldout = corpus_texts()
    print(f"matmul peak {peak:.0f} GFLOP/s; {len(train)} training and {len(heldout)} held-out documents")
    ours = run(PretrainConfig(), train, heldout, peak)
    results = {"matmul_peak_gflops": round(peak), "default": ours}
    if not args.skip_reference:
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
        )
        results["reference"] = run(reference, train, heldout, peak)
    print(f"{'recipe':<10} {'params':>9} {'tokens/s':>9} {'MFU':>6} {'train s':>8} {'held-out ppl':>13}")
    for name in ("default", "reference"):
        if name in results:
            r = results[name]
            print(
                f"{name:<10} {r['parameters']:>9,} {r['tokens_per_s']:>9,} {r['mfu']:>6.1%} {r['train_seconds']:>8.0f} "
                f"{r['initial_heldout_perplexity']:>6} -> {r['heldout_perplexity']}"
            )
    print("held-out perplexity against training time (s, step, ppl):", ours["curve"])
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
