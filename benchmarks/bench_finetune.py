"""Fine-tuning step throughput: our `train_lora` against bare transformers + peft, same model, config and data.

Side by side in one run, interleaved and repeated:
  ours              tasks.train.train_lora (progress reported every step, checkpoints and
                    evaluation outside the timed steps)
  bare_loop_causal  the minimal script: load, get_peft_model, AdamW, scheduler, loop; no attention
                    mask, as ours (the baseline of the goal: same kernels, no framework at all)
  bare_loop         the same script passing the attention mask, as scripts usually do
  bare_trainer      transformers.Trainer on the same examples in the same order
All see the same micro-batches in the same order, and every variant reads its loss each step (a
host sync on a GPU). Each timed step gives one sample: real (non-pad) tokens over the step's wall
time, and on CPU also over the process CPU time it used. The table shows medians over all samples
of all repeats. On a CPU shared with other work, wall time measures the neighbours as much as the
code (the same run varied 2x here), while CPU time of a one-thread process does not: the goal is
judged on CPU time on CPU and on wall time on a GPU. Goal: ours / bare_loop_causal >= 0.95.

    python benchmarks/bench_finetune.py [--out results.json] [--repeats 3] [--steps 30] [--warmup 5]

Hook for other overheads: `measure_ours(setup, on_metrics=...)` passes `on_metrics` through to
`train_lora` (e.g. an MLflow batcher) and times the run with it; compare with `on_metrics=None`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tasks.train.base_model import EmbeddedModelSpec, build_embedded_model
from tasks.train.config import FinetuneConfig
from tasks.train.data import corpus_texts, encode_pairs, instruction_pairs
from tasks.train.loop import _BatchSchedule, train_lora

# A model a few times the unit-test one, so a step takes ~50-200 ms on two CPU cores:
# 4 layers x (attention 3*128^2 with 2 of 4 KV heads + MLP 3*128*344) ~ 0.7M params, plus a
# 2048 x 128 tied embedding; a batch of 8 examples of ~20-130 tokens is ~600 real tokens per step.
BENCH_SPEC = EmbeddedModelSpec(
    vocab_size=2048,
    hidden_size=128,
    intermediate_size=344,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
)

Samples = list[tuple[int, float, float]]  # (real tokens, wall seconds, CPU seconds) of each timed step


@dataclass(frozen=True)
class Setup:
    base_dir: Path
    rows: list[dict[str, str]]
    config: FinetuneConfig
    warmup: int
    work_dir: Path


def synthetic_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Instruction pairs of varied length (about 20-130 tokens each)."""
    rng = random.Random(seed)
    words = [
        "model",
        "data",
        "train",
        "loss",
        "token",
        "batch",
        "layer",
        "weight",
        "gradient",
        "update",
        "value",
        "record",
        "field",
        "table",
        "query",
        "answer",
        "river",
        "mountain",
        "city",
        "harbour",
        "market",
        "season",
        "window",
        "garden",
    ]
    rows = []
    for _ in range(n):
        prompt = " ".join(rng.choice(words) for _ in range(rng.randint(8, 40)))
        response = " ".join(rng.choice(words) for _ in range(rng.randint(8, 80)))
        rows.append({"prompt": f"Summarise: {prompt}", "response": response})
    return rows


def _mark(tokens: int) -> tuple[float, float, int]:
    return time.perf_counter(), time.process_time(), tokens


def _samples(marks: list[tuple[float, float, int]], warmup: int) -> Samples:
    """Per-step samples from (wall, cpu, cumulative tokens) marks taken after each step (index 0 = step 1)."""
    return [
        (marks[i][2] - marks[i - 1][2], marks[i][0] - marks[i - 1][0], marks[i][1] - marks[i - 1][1])
        for i in range(warmup, len(marks))
    ]


def measure_ours(setup: Setup, on_metrics: Callable[[dict], None] | None = None) -> Samples:
    """Time each step of `train_lora`; `on_metrics` (e.g. an MLflow batcher) is called as in production."""
    marks: list[tuple[float, float, int]] = []

    def timed(metrics: dict) -> None:
        if "loss" in metrics:
            marks.append(_mark(int(metrics["tokens_seen"])))
        if on_metrics is not None:
            on_metrics(metrics)

    # Progress every step gives a timestamp per step: more reporting than production does, so if
    # anything this counts against ours.
    config = setup.config.model_copy(update={"log_every_steps": 1})
    with tempfile.TemporaryDirectory(dir=setup.work_dir) as out:
        train_lora(config, setup.base_dir, setup.rows, None, Path(out), data_commit="bench", on_metrics=timed)
    return _samples(marks, setup.warmup)


def _prepared(setup: Setup):
    """Model, tokenizer and the exact micro-batches `train_lora` would see, in its order."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = setup.config
    tokenizer = AutoTokenizer.from_pretrained(str(setup.base_dir))
    items = encode_pairs(instruction_pairs(setup.rows), tokenizer, cfg.prompt_template, cfg.max_seq_length).items
    schedule = _BatchSchedule(items, cfg)
    batches = [schedule.step_batches(step)[0] for step in range(schedule.total_steps)]
    torch.manual_seed(cfg.seed)
    # On a GPU, as ours: frozen base weights in bf16, fp32 adapters under bf16 autocast.
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(setup.base_dir), attn_implementation="sdpa", dtype=dtype)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    model = get_peft_model(
        model,
        LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    return model, tokenizer, batches


def _padded(sequences: list, value: int):
    import torch

    return torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in sequences], batch_first=True, padding_value=value)


def measure_bare_loop(setup: Setup, attention_mask: bool = True) -> Samples:
    """The bare script: pad each batch, forward with labels (and the attention mask), step."""
    import torch
    from transformers import get_scheduler

    cfg = setup.config
    model, tokenizer, batches = _prepared(setup)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)
    scheduler = get_scheduler(
        cfg.lr_scheduler,
        optimizer,
        num_warmup_steps=int(cfg.warmup_ratio * cfg.max_steps),
        num_training_steps=cfg.max_steps,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")
    model.train()
    marks, tokens = [], 0
    for items in batches:
        ids = _padded([e.input_ids for e in items], tokenizer.pad_token_id)
        labels = _padded([e.labels for e in items], -100)
        extra = {"attention_mask": _padded([[1] * len(e) for e in items], 0).to(device)} if attention_mask else {}
        with autocast:
            loss = model(input_ids=ids.to(device), labels=labels.to(device), use_cache=False, **extra).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # what a script prints; also the per-step host sync every variant has
        tokens += sum(len(e) for e in items)
        marks.append(_mark(tokens))
    return _samples(marks, setup.warmup)


def measure_bare_loop_causal(setup: Setup) -> Samples:
    """The bare script without the attention mask, as ours runs: the same math on every real token
    (right padding under a causal mask), so the difference to ours is the loop's own overhead."""
    return measure_bare_loop(setup, attention_mask=False)


def measure_bare_trainer(setup: Setup) -> Samples:
    """transformers.Trainer with the same hyperparameters, batches in our order, nothing saved."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    cfg = setup.config
    model, tokenizer, batches = _prepared(setup)
    examples = [e for items in batches for e in items]
    tokens_per_batch: list[int] = []

    def collator(features: list) -> dict:
        tokens_per_batch.append(sum(len(f) for f in features))
        return {
            "input_ids": _padded([f.input_ids for f in features], tokenizer.pad_token_id),
            "labels": _padded([f.labels for f in features], -100),
            "attention_mask": _padded([[1] * len(f) for f in features], 0),
        }

    stamps: list[tuple[float, float]] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append((time.perf_counter(), time.process_time()))

    with tempfile.TemporaryDirectory(dir=setup.work_dir) as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=cfg.max_steps,
            per_device_train_batch_size=cfg.per_device_batch_size,
            learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.lr_scheduler,
            warmup_steps=cfg.warmup_ratio,
            max_grad_norm=cfg.max_grad_norm,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            remove_unused_columns=False,
            dataloader_num_workers=0,
            seed=cfg.seed,
            train_sampling_strategy="sequential",
            use_cpu=not torch.cuda.is_available(),
            bf16=torch.cuda.is_available(),
        )
        trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=collator, callbacks=[Stamp()])
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    cumulative = [sum(tokens_per_batch[: i + 1]) for i in range(len(stamps))]
    return _samples([(wall, cpu, tokens) for (wall, cpu), tokens in zip(stamps, cumulative, strict=True)], setup.warmup)


VARIANTS: dict[str, Callable[[Setup], Samples]] = {
    "ours": measure_ours,
    "bare_loop_causal": measure_bare_loop_causal,
    "bare_loop": measure_bare_loop,
    "bare_trainer": measure_bare_trainer,
}
BASELINE = "bare_loop_causal"  # the strictest comparison: same kernels, no framework at all


def mlflow_overhead(setup: Setup, repeats: int) -> dict[str, float]:
    """Our MLflow logging (tasks.services.mlflow.MetricBuffer against a real `mlflow server`) as a share of step time.

    Every step's metrics go through the buffer, as in `tasks.train.run.finetune_and_register`; the
    time spent inside the callback (adding and the batched `log_batch` requests, flushed at the end
    too) is divided by the wall time of the training steps.
    """
    import subprocess

    import httpx
    from mlflow import MlflowClient

    from infra.processes import free_port
    from tasks.services import mlflow as registry

    port = free_port()
    state = setup.work_dir / "mlflow"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{state / 'mlflow.db'}",
            "--artifacts-destination",
            str(state / "artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start")
            time.sleep(0.5)
        client = MlflowClient(url)
        spent: list[float] = []
        final: list[float] = []
        steps: Samples = []
        requests = values = 0
        for _ in range(repeats):
            run = client.create_run(registry.ensure_experiment(client, "bench"))
            buffer = registry.MetricBuffer(client, run.info.run_id)

            def log(metrics: dict) -> None:
                t0 = time.perf_counter()
                buffer.add(  # noqa: B023 - called within this iteration only
                    {k: float(v) for k, v in metrics.items() if k != "step" and isinstance(v, (int, float))},
                    int(metrics.get("step", 0)),
                )
                spent.append(time.perf_counter() - t0)

            steps += measure_ours(setup, on_metrics=log)
            t0 = time.perf_counter()
            buffer.close()  # after the last step: adds to the job's wall time, not to any step's
            final.append(time.perf_counter() - t0)
            requests += buffer.requests
            values += len(client.get_metric_history(run.info.run_id, "loss"))
        step_wall = sum(wall for _, wall, _ in steps)
        return {
            "logging_s": sum(spent),
            "training_steps_wall_s": step_wall,
            "overhead_share": sum(spent) / step_wall,
            "final_flush_s": sum(final),
            "log_batch_requests": requests,
            "loss_values_logged": values,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def summarise(samples: Samples) -> dict[str, float]:
    return {
        "tokens_per_s": statistics.median(tokens / wall for tokens, wall, _ in samples),
        "cpu_tokens_per_s": statistics.median(tokens / cpu for tokens, _, cpu in samples),
        "ms_per_step": 1000 * statistics.median(wall for _, wall, _ in samples),
        "cpu_ms_per_step": 1000 * statistics.median(cpu for _, _, cpu in samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed first steps of each run")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument(
        "--no-mlflow",
        dest="mlflow",
        action="store_false",
        help="skip the MLflow logging overhead measurement (it starts an mlflow server)",
    )
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    # One thread by default: on a shared two-core machine, two threads per process make every timing
    # depend on what else runs (seen: the same variant 2x slower from one run to the next).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()

    import logging

    import torch
    import transformers

    logging.basicConfig(level=logging.WARNING)
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = [name for name in VARIANTS if name in args.variants or name in ("ours", BASELINE)]
    runs: dict[str, Samples] = {name: [] for name in wanted}
    with tempfile.TemporaryDirectory() as tmp:
        rows = synthetic_rows(args.rows)
        config = FinetuneConfig(
            max_steps=args.warmup + args.steps,
            max_seq_length=256,
            per_device_batch_size=8,
            learning_rate=1e-3,
            lr_scheduler="cosine",
            warmup_ratio=0.1,
            lora_dropout=0.05,
            save_every_steps=10**6,
        )
        base_dir = build_embedded_model(
            corpus_texts(instruction_pairs(rows), config.prompt_template), Path(tmp) / "base", BENCH_SPEC
        )
        setup = Setup(base_dir, rows, config, args.warmup, Path(tmp))
        for _ in range(args.repeats):
            for name in wanted:  # interleaved, so load changes hit every variant alike
                runs[name] += VARIANTS[name](setup)
        overhead = mlflow_overhead(setup, args.repeats) if args.mlflow else None

    summary = {name: summarise(samples) for name, samples in runs.items()}
    judged = "tokens_per_s" if torch.cuda.is_available() else "cpu_tokens_per_s"
    print(f"\n{'':<18}{'---- wall clock ----':>28}{'---- CPU time ----':>28}")
    print(f"{'variant':<18}{'tokens/s':>10}{'steps/s':>9}{'ratio':>9}{'tokens/s':>10}{'steps/s':>9}{'ratio':>9}")
    for name, s in summary.items():
        s["steps_per_s"] = 1000 / s["ms_per_step"]
        s["cpu_steps_per_s"] = 1000 / s["cpu_ms_per_step"]
        s["ratio"] = s["tokens_per_s"] / summary[BASELINE]["tokens_per_s"]
        s["cpu_ratio"] = s["cpu_tokens_per_s"] / summary[BASELINE]["cpu_tokens_per_s"]
        print(
            f"{name:<18}{s['tokens_per_s']:>10.0f}{s['steps_per_s']:>9.2f}{s['ratio']:>9.3f}"
            f"{s['cpu_tokens_per_s']:>10.0f}{s['cpu_steps_per_s']:>9.2f}{s['cpu_ratio']:>9.3f}"
        )
    ratio = summary["ours"][judged] / summary[BASELINE][judged]
    print(f"ours / {BASELINE} ({judged}) = {ratio:.3f} (goal >= 0.95): {'met' if ratio >= 0.95 else 'NOT met'}")
    if overhead is not None:
        print(
            f"MLflow logging: {overhead['logging_s'] * 1000:.1f} ms inside steps, {overhead['log_batch_requests']} "
            f"requests, over {overhead['training_steps_wall_s']:.1f} s of steps = {overhead['overhead_share']:.3%} "
            f"of step time (goal < 1%): {'met' if overhead['overhead_share'] < 0.01 else 'NOT met'}; "
            f"final flush after training {overhead['final_flush_s'] * 1000:.0f} ms "
            f"({overhead['loss_values_logged']} loss values arrived)"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "benchmark": "finetune_step_throughput",
                    "goal": f"ours / {BASELINE} median {judged} >= 0.95",
                    "met": ratio >= 0.95,
                    "variants": summary,
                    "mlflow_logging": overhead,
                    "settings": {
                        "repeats": args.repeats,
                        "timed_steps": args.steps,
                        "warmup_steps": args.warmup,
                        "rows": args.rows,
                        "spec": BENCH_SPEC.model_dump(),
                        "config": config.model_dump(mode="json"),
                    },
                    "environment": {
                        "device": "cuda" if torch.cuda.is_available() else "cpu",
                        "torch": torch.__version__,
                        "transformers": transformers.__version__,
                        "threads": torch.get_num_threads(),
                        "cpu_count": os.cpu_count(),
                        "load_avg": os.getloadavg(),
                        "python": platform.python_version(),
                    },
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
