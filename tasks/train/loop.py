"""LoRA fine-tuning with transformers + peft in a plain training loop, resumable after a crash.

Why a loop of our own rather than `transformers.Trainer`: resuming must restore exactly the data
order, optimizer, scheduler and random state and must refuse a checkpoint of another run; that is a
few dozen lines here, and the loop adds no per-step work of its own (see benchmarks/bench_finetune.py).

    train_lora       the steps: check the output directory, encode, build, resume, loop, save
    _Trainer         the model, optimizer, schedule and precision of one run, and one optimizer step
    _BatchSchedule   which items each micro-batch holds, as a pure function of (seed, step)

One code path for 1 to N processes (`tasks.train.distributed`): under torchrun each rank trains on
its slice of every global micro-batch, DistributedDataParallel averages the gradients, and rank 0
alone writes checkpoints, the adapter and metrics.

The output directory's layout and checkpoints: `tasks.train.checkpoints`; progress lines and
metrics: `tasks.train.progress`.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from tasks.train.base_model import from_pretrained_kwargs
from tasks.train.checkpoints import (
    ADAPTER,
    check_output_dir,
    claim_output_dir,
    latest_checkpoint,
    load_checkpoint,
    save_adapter,
    save_checkpoint,
)
from tasks.train.config import FinetuneConfig, ResolvedPrecision, resolve_precision
from tasks.train.data import EncodedData, Example, collate, encode_pairs, instruction_pairs
from tasks.train.distributed import World
from tasks.train.errors import ResumeMismatchError, TrainingDataError
from tasks.train.progress import MetricsCallback, Progress, peak_memory_mb

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


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
    run_key: str | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter on (prompt, response) rows; resume from `output_dir` if it holds checkpoints.

    `on_metrics` gets one dict per logging step (step, loss, learning_rate, tokens_per_s,
    memory_mb, epoch, tokens_seen) and one per evaluation (step, eval_loss). `stop_after_steps`
    ends the call after that many optimizer steps as a crash would: no final checkpoint, no adapter.
    Raises ResumeMismatchError, before any work, when `output_dir` belongs to another data commit or config.
    `run_key` names the run in that check instead of the config hash, when more than the config identifies it
    (the base model, the canaries, the index its examples were retrieved from).
    """
    import torch

    if stop_after_steps is not None and stop_after_steps < 0:
        raise ValueError(f"stop_after_steps must be >= 0, got {stop_after_steps}")
    started = time.perf_counter()
    output_dir = Path(output_dir)
    config_hash = run_key or config.config_hash()
    check_output_dir(output_dir, data_commit, config_hash)

    world = World.from_env()
    if not world.is_main:
        on_metrics = None  # one writer: rank 0 reports for all
    device = "cuda" if torch.cuda.is_available() else "cpu"  # under torchrun, this rank's GPU
    precision = resolve_precision(config.precision, device)
    tokenizer = _load_tokenizer(base_model_path)
    train, evals = _encode(config, tokenizer, train_rows, eval_rows)
    if world.is_main:
        claim_output_dir(output_dir, data_commit, config, config_hash, base_model_path)
    world.barrier()
    trainer = _Trainer(config, base_model_path, tokenizer, train, evals, precision, device, on_metrics, world)

    step, initial_eval_loss, resumed_from = 0, None, None
    checkpoint = latest_checkpoint(output_dir)
    if checkpoint is not None:
        state = load_checkpoint(
            checkpoint, trainer.model, trainer.optimizer, trainer.scheduler, trainer.scaler, data_commit, config_hash
        )
        saved_world = int(state.get("world_size", 1))
        if saved_world != world.world_size:  # the global batch would change under the schedule
            raise ResumeMismatchError(str(output_dir), {"world_size": (str(saved_world), str(world.world_size))})
        step, initial_eval_loss, resumed_from = state["step"], state["initial_eval_loss"], state["step"]
        log.info("resuming from %s at step %d of %d", checkpoint.name, step, trainer.schedule.total_steps)
    if resumed_from is None:
        initial_eval_loss = trainer.evaluate(step)

    total = trainer.schedule.total_steps
    progress = Progress(config, trainer.schedule, step, device, on_metrics)
    trainer.model.train()
    loop_s = 0.0
    stop_at = total if stop_after_steps is None else min(total, step + stop_after_steps)
    while step < stop_at:
        t0 = time.perf_counter()
        tokens, lr, grad_norm = trainer.optimizer_step(step, progress)
        step += 1
        progress.step_done(step, tokens, lr, grad_norm)
        if world.is_main and (step % config.save_every_steps == 0 or step == total):
            save_checkpoint(
                output_dir,
                step,
                trainer.model,
                trainer.optimizer,
                trainer.scheduler,
                trainer.scaler,
                {
                    "data_commit": data_commit,
                    "config_hash": config_hash,
                    "initial_eval_loss": initial_eval_loss,
                    "world_size": world.world_size,
                },
            )
        loop_s += time.perf_counter() - t0
        if config.eval_every_steps and step % config.eval_every_steps == 0 and step < total:
            t_eval = time.perf_counter()
            trainer.evaluate(step)
            trainer.model.train()
            progress.exclude(time.perf_counter() - t_eval)
    final_train_loss = progress.flush()
    completed = step >= total

    final_eval_loss, adapter_dir = None, None
    if completed:
        final_eval_loss = trainer.evaluate(step)
        if world.is_main:
            adapter_dir = save_adapter(
                output_dir, trainer.model, tokenizer, config, config_hash, data_commit, base_model_path, precision, step
            )
            log.info("done: %d steps, adapter in %s", step, adapter_dir)
        world.barrier()  # the other ranks return once the adapter is there
        adapter_dir = adapter_dir or output_dir / ADAPTER
    else:
        log.info("stopped at step %d of %d (stop_after_steps=%s)", step, total, stop_after_steps)
    return TrainResult(
        adapter_dir=adapter_dir,
        completed=completed,
        steps=step,
        max_steps=total,
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


def _encode(
    config: FinetuneConfig, tokenizer: Any, train_rows: Any, eval_rows: Any
) -> tuple[EncodedData, EncodedData | None]:
    """Both splits as token ids, checked: something to train on, and eval rows that fit."""
    train = encode_pairs(
        instruction_pairs(train_rows), tokenizer, config.prompt_template, config.max_seq_length, packing=config.packing
    )
    evals = (
        encode_pairs(
            instruction_pairs(eval_rows),
            tokenizer,
            config.prompt_template,
            config.max_seq_length,
            packing=config.packing,
        )
        if eval_rows is not None
        else None
    )
    _check_data(train, evals)
    log.info(
        "train: %d rows -> %d items (%d truncated, %d dropped), %d tokens, %d label tokens",
        train.rows,
        len(train.items),
        train.truncated,
        train.dropped,
        train.tokens,
        train.label_tokens,
    )
    return train, evals


class _Trainer:
    """The model with its adapter, the optimizer, the schedule and the precision of one run."""

    def __init__(
        self,
        config: FinetuneConfig,
        base_model_path: Path | str,
        tokenizer: Any,
        train: EncodedData,
        evals: EncodedData | None,
        precision: ResolvedPrecision,
        device: str,
        on_metrics: MetricsCallback | None,
        world: World | None = None,
    ) -> None:
        import torch
        from transformers import get_scheduler

        self.config, self.tokenizer, self.evals, self.device, self.on_metrics = (
            config,
            tokenizer,
            evals,
            device,
            on_metrics,
        )
        self.world = world or World()
        torch.manual_seed(config.seed)  # LoRA init and dropout draw from torch's global generator
        self.model = _load_lora_model(config, base_model_path, precision, device)
        # what the steps run: the model itself, or under several processes its DDP wrapper (which
        # averages the gradients; evaluation and saving use the model itself)
        self.forward = self.model
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.world.local_rank] if device == "cuda" else None
            self.forward = DistributedDataParallel(self.model, device_ids=ids)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        log.info(
            "LoRA on %s: %d trainable of %d parameters, %s on %s",
            config.peft_target_modules,
            sum(p.numel() for p in self.trainable),
            sum(p.numel() for p in self.model.parameters()),
            precision,
            device,
        )
        self.schedule = _BatchSchedule(train.items, config, self.world.world_size)
        self.optimizer = torch.optim.AdamW(
            self.trainable, lr=config.learning_rate, weight_decay=config.weight_decay, fused=device == "cuda"
        )
        self.scheduler = get_scheduler(
            config.lr_scheduler,
            self.optimizer,
            num_warmup_steps=math.ceil(config.warmup_ratio * self.schedule.total_steps),
            num_training_steps=self.schedule.total_steps,
        )
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.autocast = _autocast(precision, device)
        self.pad_multiple = 8 if device == "cuda" else 1
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def evaluate(self, step: int) -> float | None:
        """Mean eval loss per label token (None without eval rows), reported to `on_metrics`."""
        if self.evals is None or not self.evals.items:
            return None
        loss = _eval_loss(
            self.model,
            self.evals.items,
            self.config.per_device_batch_size,
            self.tokenizer.pad_token_id,
            self.device,
            self.autocast,
            self.pad_multiple,
        )
        log.info("step %d/%d | eval_loss %.4f", step, self.schedule.total_steps, loss)
        if self.on_metrics is not None:
            self.on_metrics({"step": step, "eval_loss": loss})
        return loss

    def optimizer_step(self, step: int, progress: Progress) -> tuple[int, float, Any]:
        """Optimizer step `step` over its micro-batches; (real tokens trained on, learning rate, grad norm)."""
        import torch

        micro = self.schedule.step_batches(step)  # the global micro-batches, the same on every rank
        label_tokens = sum(_label_count(item) for batch in micro for item in batch)
        step_tokens = sum(item.real_tokens for batch in micro for item in batch)
        # Normalise by the label tokens of the whole step (every rank's), so every token weighs the same
        # however the step is split into micro-batches and ranks (a per-batch mean would over-weight short
        # ones). DDP averages the ranks' gradients, so each rank's sum is scaled by the world size.
        num_items = max(label_tokens, 1)
        for global_items in micro:
            items = self.world.shard(global_items, self.config.per_device_batch_size)
            # a short last batch can leave this rank nothing: it still takes part in the sync, at weight 0
            scale = self.world.world_size if items else 0.0
            items = items or global_items[:1]
            collated = collate(items, self.tokenizer.pad_token_id, pad_to_multiple_of=self.pad_multiple)
            batch = {k: v.to(self.device, non_blocking=True) for k, v in collated.items()}
            with self.autocast:
                loss = self.forward(**batch, use_cache=False, num_items_in_batch=num_items).loss * scale
            (self.scaler.scale(loss) if self.scaler else loss).backward()
            progress.add_loss(loss.detach())  # under DDP, this rank's estimate of the step's mean loss
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(self.trainable, self.config.max_grad_norm)
            if self.config.max_grad_norm > 0
            else None
        )
        lr = self.scheduler.get_last_lr()[0]
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return step_tokens, lr, grad_norm


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
    model = AutoModelForCausalLM.from_pretrained(
        str(base_model_path), dtype=dtype, attn_implementation="sdpa", **from_pretrained_kwargs()
    )
    model.config.use_cache = False
    if config.gradient_checkpointing:
        # Non-reentrant checkpointing gives the frozen embeddings' output no need to require grad.
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.to(device)
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.peft_target_modules,
        bias="none",
    )
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

    def __init__(self, items: Sequence[Example], config: FinetuneConfig, world_size: int = 1) -> None:
        self.items = items
        self.batch_size = config.per_device_batch_size * world_size  # a global micro-batch
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
        chosen = self._order[1][position * self.batch_size : (position + 1) * self.batch_size]
        return [self.items[i] for i in chosen]


def _eval_loss(
    model, items: Sequence[Example], batch_size: int, pad_id: int, device: str, autocast, pad_multiple: int
) -> float:
    """Mean loss per label token over `items` (token-weighted, so batch size does not change it)."""
    import torch

    model.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    count = 0
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            n = sum(_label_count(item) for item in chunk)
            if not n:
                continue
            batch = {k: v.to(device) for k, v in collate(chunk, pad_id, pad_to_multiple_of=pad_multiple).items()}
            with autocast:
                # With num_items_in_batch=1 the loss is the sum over label tokens.
                total += model(**batch, use_cache=False, num_items_in_batch=1).loss.double()
            count += n
    return float(total) / max(count, 1)
