"""LoRA fine-tuning with transformers + peft in a plain training loop, resumable after a crash.

Why a loop of our own rather than `transformers.Trainer`: resuming must restore exactly the data
order, optimizer, scheduler and random state and must refuse a checkpoint of another run; that is a
few dozen lines here, and the loop adds no per-step work of its own (see benchmarks/bench_finetune.py).

Layout of `output_dir` (the caller keys it by data commit and config hash):

    run.json                  which data commit and config this directory belongs to
    checkpoints/step-NNNNNNNN/  adapter weights, optimizer/scheduler/RNG state (last two kept)
    adapter/                  the final adapter: peft weights, tokenizer, training_config.json,
                              prompt_template.txt
"""

from __future__ import annotations

import json
import logging
import math
import random
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from tasks.training.base_model import from_pretrained_kwargs
from tasks.training.config import FinetuneConfig, ResolvedPrecision, resolve_precision
from tasks.training.data import EncodedData, Example, collate, encode_pairs, instruction_pairs
from tasks.training.errors import ResumeMismatchError, TrainingDataError, TrainingError

if TYPE_CHECKING:
    import pandas as pd
    import torch

log = logging.getLogger(__name__)

MARKER = "run.json"
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
KEEP_CHECKPOINTS = 2
MetricsCallback = Callable[[dict[str, float]], None]


class TrainResult(BaseModel):
    """What a `train_lora` call did. `adapter_dir` is None when the call stopped before the end."""

    model_config = ConfigDict(frozen=True)

    adapter_dir: Path | None
    completed: bool
    steps: int  # optimizer steps done in total, across resumes
    max_steps: int
    resumed_from_step: int | None  # None: started fresh
    initial_eval_loss: float | None  # before the first step; None without eval rows
    final_eval_loss: float | None
    final_train_loss: float | None  # mean over the last logging window of this call
    train_tokens: int  # real (non-pad) tokens trained on in this call
    tokens_per_s: float  # over this call's training steps, evaluation excluded
    peak_memory_mb: float  # GPU: peak allocated during this call; CPU: peak resident set of the process so far
    device: str
    precision: ResolvedPrecision
    config_hash: str
    data_commit: str
    wall_s: float


def train_lora(
    config: FinetuneConfig,
    base_model_path: Path | str,
    train_rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    eval_rows: pd.DataFrame | Iterable[Mapping[str, Any]] | None,
    output_dir: Path,
    *,
    data_commit: str,
    on_metrics: MetricsCallback | None = None,
    stop_after_steps: int | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter on (prompt, response) rows; resume from `output_dir` if it holds checkpoints.

    `on_metrics` gets one dict per logging step (step, loss, learning_rate, tokens_per_s,
    memory_mb, epoch, tokens_seen) and one per evaluation (step, eval_loss). `stop_after_steps`
    ends the call after that many optimizer steps as a crash would: no final checkpoint, no adapter.
    Raises ResumeMismatchError, before any work, when `output_dir` belongs to another data commit or config.
    """
    import torch

    if stop_after_steps is not None and stop_after_steps < 0:
        raise ValueError(f"stop_after_steps must be >= 0, got {stop_after_steps}")
    started = time.perf_counter()
    output_dir = Path(output_dir)
    config_hash = config.config_hash()
    _check_output_dir(output_dir, data_commit, config_hash)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve_precision(config.precision, device)
    tokenizer = _load_tokenizer(base_model_path)
    train = encode_pairs(instruction_pairs(train_rows), tokenizer, config.prompt_template, config.max_seq_length,
                         packing=config.packing)
    evals = (encode_pairs(instruction_pairs(eval_rows), tokenizer, config.prompt_template, config.max_seq_length,
                          packing=config.packing) if eval_rows is not None else None)
    _check_data(train, evals)
    _claim_output_dir(output_dir, data_commit, config, config_hash, base_model_path)
    log.info("train: %d rows -> %d items (%d truncated, %d dropped), %d tokens, %d label tokens",
             train.rows, len(train.items), train.truncated, train.dropped, train.tokens, train.label_tokens)

    torch.manual_seed(config.seed)  # LoRA init and dropout draw from torch's global generator
    model = _load_lora_model(config, base_model_path, precision, device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    log.info("LoRA on %s: %d trainable of %d parameters, %s on %s",
             config.peft_target_modules, sum(p.numel() for p in trainable),
             sum(p.numel() for p in model.parameters()), precision, device)

    schedule = _BatchSchedule(train.items, config)
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay,
                                  fused=device == "cuda")
    from transformers import get_scheduler

    scheduler = get_scheduler(config.lr_scheduler, optimizer,
                              num_warmup_steps=math.ceil(config.warmup_ratio * schedule.total_steps),
                              num_training_steps=schedule.total_steps)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    autocast = _autocast(precision, device)
    pad_multiple = 8 if device == "cuda" else 1
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    step, initial_eval_loss, resumed_from = 0, None, None
    checkpoint = _latest_checkpoint(output_dir)
    if checkpoint is not None:
        state = _load_checkpoint(checkpoint, model, optimizer, scheduler, scaler, data_commit, config_hash)
        step, initial_eval_loss, resumed_from = state["step"], state["initial_eval_loss"], state["step"]
        log.info("resuming from %s at step %d of %d", checkpoint.name, step, schedule.total_steps)

    def evaluate() -> float | None:
        if evals is None or not evals.items:
            return None
        loss = _eval_loss(model, evals.items, config.per_device_batch_size, tokenizer.pad_token_id, device,
                          autocast, pad_multiple)
        log.info("step %d/%d | eval_loss %.4f", step, schedule.total_steps, loss)
        if on_metrics is not None:
            on_metrics({"step": step, "eval_loss": loss})
        return loss

    if resumed_from is None:
        initial_eval_loss = evaluate()

    progress = _Progress(config, schedule, step, device, on_metrics)
    model.train()
    loop_s = 0.0
    stop_at = schedule.total_steps if stop_after_steps is None else min(schedule.total_steps, step + stop_after_steps)
    while step < stop_at:
        t0 = time.perf_counter()
        micro = schedule.step_batches(step)
        label_tokens = sum(_label_count(item) for batch in micro for item in batch)
        step_tokens = 0
        # Normalise by the label tokens of the whole step, so every token weighs the same however the
        # step is split into micro-batches (a per-micro-batch mean would over-weight short batches).
        num_items = max(label_tokens, 1)
        for items in micro:
            batch = {k: v.to(device, non_blocking=True)
                     for k, v in collate(items, tokenizer.pad_token_id, pad_to_multiple_of=pad_multiple).items()}
            with autocast:
                loss = model(**batch, use_cache=False, num_items_in_batch=num_items).loss
            (scaler.scale(loss) if scaler else loss).backward()
            progress.add_loss(loss.detach())
            step_tokens += sum(item.real_tokens for item in items)
        if scaler:
            scaler.unscale_(optimizer)
        grad_norm = (torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                     if config.max_grad_norm > 0 else None)
        lr = scheduler.get_last_lr()[0]
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        progress.step_done(step, step_tokens, lr, grad_norm)
        if step % config.save_every_steps == 0 or step == schedule.total_steps:
            _save_checkpoint(output_dir, step, model, optimizer, scheduler, scaler,
                             {"data_commit": data_commit, "config_hash": config_hash,
                              "initial_eval_loss": initial_eval_loss})
        loop_s += time.perf_counter() - t0
        if config.eval_every_steps and step % config.eval_every_steps == 0 and step < schedule.total_steps:
            t_eval = time.perf_counter()
            evaluate()
            model.train()
            progress.exclude(time.perf_counter() - t_eval)
    final_train_loss = progress.flush()
    completed = step >= schedule.total_steps

    final_eval_loss, adapter_dir = None, None
    if completed:
        final_eval_loss = evaluate()
        adapter_dir = _save_adapter(output_dir, model, tokenizer, config, config_hash, data_commit, base_model_path,
                                    precision, step)
        log.info("done: %d steps, adapter in %s", step, adapter_dir)
    else:
        log.info("stopped at step %d of %d (stop_after_steps=%s)", step, schedule.total_steps, stop_after_steps)
    return TrainResult(
        adapter_dir=adapter_dir,
        completed=completed,
        steps=step,
        max_steps=schedule.total_steps,
        resumed_from_step=resumed_from,
        initial_eval_loss=initial_eval_loss,
        final_eval_loss=final_eval_loss,
        final_train_loss=final_train_loss,
        train_tokens=progress.tokens_total,
        tokens_per_s=progress.tokens_total / loop_s if loop_s else 0.0,
        peak_memory_mb=peak_memory_mb(device),
        device=device,
        precision=precision,
        config_hash=config_hash,
        data_commit=data_commit,
        wall_s=time.perf_counter() - started,
    )


# --- the output directory -------------------------------------------------------------------------

def _check_output_dir(output_dir: Path, data_commit: str, config_hash: str) -> None:
    """Refuse an output directory marked for another run."""
    marker = output_dir / MARKER
    if marker.is_file():
        _check_same_run(str(output_dir), json.loads(marker.read_text()), data_commit, config_hash)


def _claim_output_dir(output_dir: Path, data_commit: str, config: FinetuneConfig, config_hash: str,
                      base_model_path: Path | str) -> None:
    """Mark `output_dir` as this run's (once), and clear what a crash mid-save left behind."""
    marker = output_dir / MARKER
    if not marker.is_file():
        output_dir.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(marker, {"data_commit": data_commit, "config_hash": config_hash,
                                    "config": config.model_dump(mode="json"), "base_model": str(base_model_path)})
    for staging in [*output_dir.glob(f"{CHECKPOINTS}/.step-*.tmp"), *output_dir.glob(f".{ADAPTER}.tmp")]:
        shutil.rmtree(staging, ignore_errors=True)


def _check_same_run(where: str, found: Mapping[str, Any], data_commit: str, config_hash: str) -> None:
    differences = {key: (str(found.get(key)), wanted)
                   for key, wanted in (("data_commit", data_commit), ("config_hash", config_hash))
                   if found.get(key) != wanted}
    if differences:
        raise ResumeMismatchError(where, differences)


def _write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    tmp.replace(path)


def _latest_checkpoint(output_dir: Path) -> Path | None:
    root = output_dir / CHECKPOINTS
    done = sorted(p for p in root.glob("step-*") if p.is_dir()) if root.is_dir() else []
    return done[-1] if done else None


def _save_checkpoint(output_dir: Path, step: int, model, optimizer, scheduler, scaler,
                     meta: Mapping[str, Any]) -> Path:
    import torch

    root = output_dir / CHECKPOINTS
    final = root / f"step-{step:08d}"
    staging = root / f".step-{step:08d}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    torch.save({
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler else None,
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }, staging / "state.pt")
    (staging / "state.json").write_text(json.dumps({"step": step, **meta}, indent=2, sort_keys=True))
    # The rename is the commit point: a crash before it leaves only a staging directory, ignored.
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint %s", final.name)
    return final


def _load_checkpoint(path: Path, model, optimizer, scheduler, scaler, data_commit: str,
                     config_hash: str) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    meta = json.loads((path / "state.json").read_text())
    _check_same_run(str(path), meta, data_commit, config_hash)
    device = next(model.parameters()).device
    result = set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors", device=str(device)))
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        raise TrainingError(f"checkpoint {path} does not fit this model (missing {missing[:3]}, "
                            f"unexpected {list(result.unexpected_keys)[:3]}); delete it to start over")
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_torch"])
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return meta


def _save_adapter(output_dir: Path, model, tokenizer, config: FinetuneConfig, config_hash: str, data_commit: str,
                  base_model_path: Path | str, precision: str, steps: int) -> Path:
    import peft
    import torch
    import transformers

    final = output_dir / ADAPTER
    staging = output_dir / f".{ADAPTER}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "prompt_template.txt").write_text(config.prompt_template)
    (staging / "training_config.json").write_text(json.dumps({
        "config": config.model_dump(mode="json"),
        "config_hash": config_hash,
        "data_commit": data_commit,
        "base_model": str(base_model_path),
        "prompt_template": config.prompt_template,
        "precision": precision,
        "steps": steps,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }, indent=2, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


# --- model and data -------------------------------------------------------------------------------

def _load_tokenizer(base_model_path: Path | str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path), **from_pretrained_kwargs())
    if tokenizer.pad_token_id is None:
        # Padding never carries labels and never reaches a real token (right padding, causal), so
        # any id will do; eos is what most base models without a pad token use.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_lora_model(config: FinetuneConfig, base_model_path: Path | str, precision: ResolvedPrecision, device: str):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    # Frozen base weights in the compute dtype; peft keeps the adapter weights in fp32 and autocast
    # runs each layer in the compute dtype.
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    if device == "cpu":
        dtype = torch.float32  # CPU autocast handles bf16 compute; bf16 storage would only lose precision
    model = AutoModelForCausalLM.from_pretrained(str(base_model_path), dtype=dtype, attn_implementation="sdpa",
                                                 **from_pretrained_kwargs())
    model.config.use_cache = False
    if config.gradient_checkpointing:
        # Non-reentrant checkpointing gives the frozen embeddings' output no need to require grad.
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.to(device)
    lora = LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=config.peft_target_modules, bias="none")
    return get_peft_model(model, lora)


def _autocast(precision: ResolvedPrecision, device: str):
    import torch

    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def _check_data(train: EncodedData, evals: EncodedData | None) -> None:
    if not train.items:
        raise TrainingDataError(
            f"no training example left: {train.rows} rows, {train.dropped} dropped because the prompt fills "
            "max_seq_length; raise max_seq_length or shorten the prompts"
        )
    if evals is not None and evals.rows and not evals.items:
        raise TrainingDataError(f"all {evals.rows} eval rows were dropped: their prompts fill max_seq_length")


def _label_count(item: Example) -> int:
    # The model predicts token t+1 from position t: the first label of an item is never a target.
    return sum(1 for t in item.labels[1:] if t != -100)


class _BatchSchedule:
    """Which items each micro-batch holds: a fixed function of (seed, epoch, position).

    The stream of micro-batches runs epoch after epoch, each a seeded shuffle of the items, and
    optimizer step k takes micro-batches [k*accum, (k+1)*accum). A resumed run therefore picks up
    the exact batches the interrupted run would have seen, with no state to save and nothing to skip.
    """

    def __init__(self, items: Sequence[Example], config: FinetuneConfig) -> None:
        self.items = items
        self.batch_size = config.per_device_batch_size
        self.accum = config.gradient_accumulation_steps
        self.seed = config.seed
        self.per_epoch = math.ceil(len(items) / self.batch_size)
        self.total_steps = config.max_steps or math.ceil(config.epochs * self.per_epoch / self.accum)
        self._order: tuple[int, list[int]] | None = None

    def epoch_of(self, step: int) -> float:
        return step * self.accum / self.per_epoch

    def step_batches(self, step: int) -> list[list[Example]]:
        return [self._micro(m) for m in range(step * self.accum, (step + 1) * self.accum)]

    def _micro(self, index: int) -> list[Example]:
        epoch, position = divmod(index, self.per_epoch)
        if self._order is None or self._order[0] != epoch:
            order = list(range(len(self.items)))
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
            self._order = (epoch, order)
        chosen = self._order[1][position * self.batch_size:(position + 1) * self.batch_size]
        return [self.items[i] for i in chosen]


def _eval_loss(model, items: Sequence[Example], batch_size: int, pad_id: int, device: str, autocast,
               pad_multiple: int) -> float:
    """Mean loss per label token over `items` (token-weighted, so batch size does not change it)."""
    import torch

    model.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    count = 0
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            n = sum(_label_count(item) for item in chunk)
            if not n:
                continue
            batch = {k: v.to(device) for k, v in collate(chunk, pad_id, pad_to_multiple_of=pad_multiple).items()}
            with autocast:
                # With num_items_in_batch=1 the loss is the sum over label tokens.
                total += model(**batch, use_cache=False, num_items_in_batch=1).loss.double()
            count += n
    return float(total) / max(count, 1)


# --- progress -------------------------------------------------------------------------------------

def peak_memory_mb(device: str) -> float:
    """GPU: peak memory allocated by torch. CPU: peak resident set size of this process."""
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


class _Progress:
    """Collects loss and throughput between logging steps; logs a line and calls `on_metrics` at each.

    Losses stay on the device until a logging step, so there is no host sync per step.
    """

    def __init__(self, config: FinetuneConfig, schedule: _BatchSchedule, step: int, device: str,
                 on_metrics: MetricsCallback | None) -> None:
        self.every, self.schedule, self.device, self.on_metrics = config.log_every_steps, schedule, device, on_metrics
        self.tokens_total, self.step = 0, step
        self._reset(step)
        self.last_loss: float | None = None

    def _reset(self, step: int) -> None:
        self.window_start, self.window_step = time.perf_counter(), step
        self.window_tokens, self.loss_sum, self.grad_norm = 0, None, None
        self.lr = 0.0

    def exclude(self, seconds: float) -> None:
        """Leave time spent outside training (evaluation) out of the throughput."""
        self.window_start += seconds

    def add_loss(self, loss: torch.Tensor) -> None:
        self.loss_sum = loss.float() if self.loss_sum is None else self.loss_sum + loss.float()

    def step_done(self, step: int, tokens: int, lr: float, grad_norm: torch.Tensor | None) -> None:
        self.tokens_total += tokens
        self.window_tokens += tokens
        self.lr, self.grad_norm, self.step = lr, grad_norm, step
        if step % self.every == 0 or step == self.schedule.total_steps:
            self._report(step)

    def flush(self) -> float | None:
        """Report a partial window (a stopped run) and return the last reported mean loss."""
        if self.loss_sum is not None:
            self._report(self.step)
        return self.last_loss

    def _report(self, step: int) -> None:
        steps = step - self.window_step
        elapsed = time.perf_counter() - self.window_start
        # Each step's micro-batch losses add up to that step's mean loss per label token.
        loss = float(self.loss_sum) / max(steps, 1)
        metrics = {
            "step": step,
            "loss": loss,
            "learning_rate": self.lr,
            "tokens_per_s": self.window_tokens / elapsed if elapsed > 0 else 0.0,
            "memory_mb": _current_memory_mb(self.device),
            "epoch": self.schedule.epoch_of(step),
            "tokens_seen": self.tokens_total,
        }
        if self.grad_norm is not None:
            metrics["grad_norm"] = float(self.grad_norm)
        eta_s = (self.schedule.total_steps - step) * elapsed / max(steps, 1)
        log.info("step %d/%d | loss %.4f | lr %.2e | %.0f tokens/s | %.0f MB | eta %s", step,
                 self.schedule.total_steps, loss, self.lr, metrics["tokens_per_s"], metrics["memory_mb"],
                 _duration(eta_s))
        self.last_loss = loss
        if self.on_metrics is not None:
            self.on_metrics(metrics)
        self._reset(step)


def _current_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.memory_allocated() / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"
