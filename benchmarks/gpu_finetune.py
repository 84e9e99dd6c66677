"""LoRA fine-tuning throughput on realistic shapes on one GPU: tokens/s, MFU, peak memory, packing on and off.

The architectures are built from their published configurations with random weights (no download):
Qwen2.5-0.5B-shaped and Llama-3.2-1B-shaped. The tokenizer is our byte-level BPE trained on the
synthetic rows; the embedding and output head keep the architecture's full vocabulary, so the
compute per token is that of the real model. Each run goes through `train_lora` (bf16 autocast, fp32
adapters, SDPA) and is timed from the end of warmup to the last step.

MFU = 6 * N * tokens/s / peak bf16 dense FLOP/s, N = the weights of every linear layer, output head
included (the embedding lookup does no matmul; attention score FLOPs are left out). With frozen base
weights a LoRA step does about 4N per token rather than 6N, so read MFU as the usual convention,
comparable to other reports, not as measured FLOPs.

    python benchmarks/gpu_finetune.py [--out results.json] [--arch qwen2.5-0.5b llama-3.2-1b]
                                      [--seq 2048] [--batch 4] [--steps 20] [--warmup 5]
    python benchmarks/gpu_finetune.py --cpu-smoke   # tiny shapes of the same families, on CPU, to check the script
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tasks.train.base_model import build_tokenizer
from tasks.train.config import FinetuneConfig
from tasks.train.data import corpus_texts, instruction_pairs
from tasks.train.loop import train_lora

# Published shapes (config.json of Qwen/Qwen2.5-0.5B and meta-llama/Llama-3.2-1B).
ARCHS: dict[str, tuple[str, dict]] = {
    "qwen2.5-0.5b": (
        "qwen2",
        dict(
            vocab_size=151936,
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        ),
    ),
    "llama-3.2-1b": (
        "llama",
        dict(
            vocab_size=128256,
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=64,
            max_position_embeddings=131072,
            tie_word_embeddings=True,
            rope_parameters={
                "rope_type": "llama3",
                "rope_theta": 500_000.0,
                "factor": 32.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
            },
        ),
    ),
}
# The same families at toy size, for --cpu-smoke.
SMOKE_OVERRIDES = dict(
    vocab_size=1024,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
)

# Dense bf16 tensor-core peak, TFLOP/s, from NVIDIA's datasheets (their sparsity figures halved).
# Matched in order against torch.cuda.get_device_name(); the first hit wins.
PEAK_BF16_TFLOPS: list[tuple[str, float]] = [
    ("H200 NVL", 835.5),
    ("H200", 989.4),
    ("H100 NVL", 835.5),
    ("H100 PCIe", 756.5),
    ("H100", 989.4),  # SXM: "NVIDIA H100 80GB HBM3"
    ("A100", 312.0),
]


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


def synthetic_rows(n: int, max_words: int, seed: int = 0) -> list[dict[str, str]]:
    """Instruction pairs whose lengths spread from short to near `max_words`, as real SFT sets do."""
    rng = random.Random(seed)
    vocab = [
        f"{a}{b}"
        for a in ("ka", "lo", "mi", "ne", "su", "ta", "vo", "ze")
        for b in ("rin", "dal", "mek", "pos", "tun", "gar", "bel", "fio", "sam", "cor")
    ]
    rows = []
    for _ in range(n):
        total = int(rng.triangular(16, max_words, max_words // 4))
        split = rng.randint(total // 4, total * 3 // 4)
        rows.append(
            {"prompt": " ".join(rng.choices(vocab, k=split)), "response": " ".join(rng.choices(vocab, k=total - split))}
        )
    return rows


def build_base(arch: str, texts: list[str], out_dir: Path, smoke: bool) -> tuple[Path, int]:
    """Random-weight model of `arch` and our tokenizer, saved; returns (dir, N of the MFU formula)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    family, shape = ARCHS[arch]
    shape = shape | SMOKE_OVERRIDES if smoke else shape
    tokenizer = build_tokenizer(texts, vocab_size=min(8192, shape["vocab_size"]))
    assert len(tokenizer) <= shape["vocab_size"]
    config = AutoConfig.for_model(
        family,
        **shape,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    # Every linear layer's weight, the (tied) output head counted as the matmul it is.
    n_matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    del model
    gc.collect()
    return out_dir, n_matmul


def run_one(base_dir: Path, rows: list[dict], config: FinetuneConfig, warmup: int, work_dir: Path) -> dict:
    import torch

    marks: list[tuple[float, int, int]] = []

    def timed(metrics: dict) -> None:
        if "loss" in metrics:
            marks.append((time.perf_counter(), int(metrics["step"]), int(metrics["tokens_seen"])))

    with tempfile.TemporaryDirectory(dir=work_dir) as out:
        result = train_lora(config, base_dir, rows, None, Path(out), data_commit="gpu-bench", on_metrics=timed)
    (t0, s0, k0), (t1, s1, k1) = next(m for m in marks if m[1] == warmup), marks[-1]
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {
        "tokens_per_s": (k1 - k0) / (t1 - t0),
        "steps_per_s": (s1 - s0) / (t1 - t0),
        "tokens_per_step": (k1 - k0) / (s1 - s0),
        "peak_memory_mb": result.peak_memory_mb,
        "precision": result.precision,
        "device": result.device,
        "final_train_loss": result.final_train_loss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--arch", nargs="+", choices=sorted(ARCHS), default=list(ARCHS))
    parser.add_argument("--seq", type=int, default=2048, help="max_seq_length (and packed block size)")
    parser.add_argument("--batch", type=int, default=4, help="per-device batch size, examples or packed blocks")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (a multiple of --warmup)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, help="override the bf16 peak looked up by device name")
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="tiny shapes on CPU: checks that the script runs, measures nothing"
    )
    args = parser.parse_args()
    if args.steps % args.warmup:
        parser.error("--steps must be a multiple of --warmup")

    import torch

    if not torch.cuda.is_available() and not args.cpu_smoke:
        print(
            "gpu_finetune.py needs a CUDA device and none is visible (torch.cuda.is_available() is False). "
            "Run it on a GPU machine, or pass --cpu-smoke to check the script with tiny shapes on CPU.",
            file=sys.stderr,
        )
        return 2
    if args.cpu_smoke:
        args.seq, args.batch, args.steps, args.warmup, args.rows = min(args.seq, 256), 2, 4, 2, 64
    device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peak = args.peak_tflops or (peak_tflops(device_name) if torch.cuda.is_available() else None)
    if torch.cuda.is_available() and peak is None:
        print(f"no bf16 peak known for {device_name!r}; MFU left out (pass --peak-tflops)", file=sys.stderr)

    import transformers

    transformers.utils.logging.disable_progress_bar()
    # The BPE learns each of the 80 synthetic words as one token, so rows run from 16 tokens to about
    # the block size (mode at a quarter of it): padding then costs what it costs on real SFT data.
    rows = synthetic_rows(args.rows, max_words=max(32, args.seq - 32))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch:
            template = FinetuneConfig().prompt_template
            base_dir, n_matmul = build_base(
                arch, corpus_texts(instruction_pairs(rows), template), Path(tmp) / arch, args.cpu_smoke
            )
            for packing in (False, True):
                config = FinetuneConfig(
                    base_model=str(base_dir),
                    max_steps=args.warmup + args.steps,
                    max_seq_length=args.seq,
                    per_device_batch_size=args.batch,
                    packing=packing,
                    lora_r=args.lora_r,
                    lora_alpha=2 * args.lora_r,
                    lora_dropout=0.0,
                    learning_rate=1e-4,
                    warmup_ratio=0.0,
                    lr_scheduler="constant",
                    gradient_checkpointing=args.gradient_checkpointing,
                    log_every_steps=args.warmup,
                    save_every_steps=10**6,
                )
                row = {
                    "arch": arch,
                    "packing": packing,
                    "n_matmul_params": n_matmul,
                    **run_one(base_dir, rows, config, args.warmup, Path(tmp)),
                }
                row["mfu"] = 6 * n_matmul * row["tokens_per_s"] / (peak * 1e12) if peak else None
                results.append(row)
                mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
                print(
                    f"{arch:<14} packing={str(packing):<5} {row['tokens_per_s']:>10.0f} tokens/s "
                    f"{row['tokens_per_step']:>8.0f} tokens/step  MFU {mfu:>6}  "
                    f"peak {row['peak_memory_mb']:>8.0f} MB",
                    flush=True,
                )
            shutil.rmtree(base_dir, ignore_errors=True)  # a 1B model is ~2.5 GB on disk

    print(f"\n{'arch':<14}{'packing':>8}{'tokens/s':>12}{'MFU':>8}{'peak MB':>10}")
    for r in results:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        print(f"{r['arch']:<14}{str(r['packing']):>8}{r['tokens_per_s']:>12.0f}{mfu:>8}{r['peak_memory_mb']:>10.0f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "benchmark": "gpu_finetune",
                    "device": device_name,
                    "peak_bf16_tflops": peak,
                    "cpu_smoke": args.cpu_smoke,
                    "settings": {
                        "seq": args.seq,
                        "batch": args.batch,
                        "steps": args.steps,
                        "warmup": args.warmup,
                        "rows": args.rows,
                        "lora_r": args.lora_r,
                        "gradient_checkpointing": args.gradient_checkpointing,
                    },
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
