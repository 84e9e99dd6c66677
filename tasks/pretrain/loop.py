"""Pretraining from scratch: every weight of a small Llama, on the corpus's token blocks, resumable after a crash.

Layout of `output_dir` (the caller keys it by corpus digest and recipe hash):

    run.json                      which corpus and recipe this directory belongs to
    tokenizer/                    the BPE tokenizer, trained once (a resumed run reuses it)
    checkpoints/step-NNNNNNNN/    weights, optimizer/scheduler/RNG state, the held-out curve so far (last two)
    model/                        the final model and tokenizer, loadable with `from_pretrained`

Batches are a pure function of (seed, step): step k takes positions [k*b, (k+1)*b) of a stream of
seeded permutations of the blocks, one per epoch, so a resumed run sees exactly the batches the
interrupted one would have.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from llmops.errors import LLMOpsError
from tasks.pretrain.config import PretrainConfig
from tasks.pretrain.data import Document, exercise_blocks, reading_exercises, token_blocks
from tasks.pretrain.model import PretrainDataError, build_tokenizer, new_model

log = logging.getLogger(__name__)

MARKER, TOKENIZER, CHECKPOINTS, MODEL = "run.json", "tokenizer", "checkpoints", "model"
KEEP_CHECKPOINTS = 2
HELDOUT_EXERCISES = 96
MetricsCallback = Callable[[dict[str, float]], None]


class PretrainResumeError(LLMOpsError):
    """The output directory holds a pretraining run of another corpus or recipe."""


class CurvePoint(BaseModel):
    step: int
    seconds: float  # training time so far (evaluation excluded)
    tokens: int
    heldout_perplexity: float
    # share of held-out reading exercises' target tokens predicted right (teacher-forced); None: no exercises
    heldout_copy_accuracy: float | None = None


class PretrainResult(BaseModel):
    """What a `pretrain` call did; `model_dir` is None when it stopped before the end."""

    model_config = ConfigDict(frozen=True)

    model_dir: Path | None
    completed: bool
    steps: int
    resumed_from_step: int | None
    parameters: int
    train_tokens: int  # tokens trained on, across resumes
    train_blocks: int
    exercise_blocks: int  # of train_blocks, those that are reading exercises
    heldout_tokens: int
    initial_heldout_perplexity: float
    heldout_perplexity: float | None
    initial_heldout_copy_accuracy: float | None
    heldout_copy_accuracy: float | None
    tokens_per_s: float  # over this call's training steps
    flops_per_token: float  # 6 N + attention, the usual estimate for a forward and backward pass
    curve: list[CurvePoint]
    wall_s: float


def pretrain(
    config: PretrainConfig,
    train_texts: Sequence[str],
    heldout_texts: Sequence[str],
    output_dir: Path,
    *,
    corpus_digest: str,
    exercise_docs: Sequence[Document] = (),
    heldout_exercise_docs: Sequence[Document] = (),
    on_metrics: MetricsCallback | None = None,
    stop_after_steps: int | None = None,
) -> PretrainResult:
    """Train the tokenizer and the model on `train_texts`; measure perplexity on `heldout_texts`.

    With `config.exercise_fraction` > 0, that share of the training blocks are reading exercises of
    `exercise_docs`, and the copy accuracy on exercises of `heldout_exercise_docs` is measured beside
    the perplexity. `stop_after_steps` ends the call as a crash would (no final model). Raises PretrainResumeError,
    before any work, when `output_dir` belongs to another corpus or recipe.
    """
    import torch

    started = time.perf_counter()
    output_dir = Path(output_dir)
    _claim(output_dir, corpus_digest, config)
    tokenizer = _tokenizer(output_dir, train_texts, config)
    blocks = token_blocks(tokenizer, train_texts, config.seq_length)
    heldout = token_blocks(tokenizer, heldout_texts, config.seq_length)
    n_text = len(blocks)
    labels, blocks, heldout_exercises = _with_exercises(tokenizer, blocks, config, exercise_docs, heldout_exercise_docs)
    model = new_model(config, tokenizer)
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, betas=(0.9, 0.95), weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config))
    log.info(
        "pretraining %d parameters on %d blocks of %d tokens (%d held out), %d steps",
        parameters,
        len(blocks),
        config.seq_length,
        heldout.numel(),
        config.max_steps,
    )

    step, curve, train_s, resumed_from = 0, [], 0.0, None
    checkpoint = _latest(output_dir)
    if checkpoint is not None:
        state = _load(checkpoint, model, optimizer, scheduler)
        step, curve, train_s, resumed_from = state["step"], state["curve"], state["train_s"], state["step"]
        curve = [CurvePoint(**point) for point in curve]
        log.info("resuming from %s at step %d of %d", checkpoint.name, step, config.max_steps)
    else:
        curve = [
            CurvePoint(
                step=0,
                seconds=0.0,
                tokens=0,
                heldout_perplexity=_perplexity(model, heldout),
                heldout_copy_accuracy=_copy_accuracy(model, heldout_exercises),
            )
        ]

    def evaluate() -> None:
        point = CurvePoint(
            step=step,
            seconds=round(train_s, 3),
            tokens=step * config.batch_size * config.seq_length,
            heldout_perplexity=_perplexity(model, heldout),
            heldout_copy_accuracy=_copy_accuracy(model, heldout_exercises),
        )
        curve.append(point)
        log.info(
            "step %d/%d | held-out perplexity %.1f | copy accuracy %s",
            step,
            config.max_steps,
            point.heldout_perplexity,
            "-" if point.heldout_copy_accuracy is None else f"{point.heldout_copy_accuracy:.3f}",
        )
        if on_metrics:
            metrics = {"step": step, "heldout_perplexity": point.heldout_perplexity, "train_seconds": train_s}
            if point.heldout_copy_accuracy is not None:
                metrics["heldout_copy_accuracy"] = point.heldout_copy_accuracy
            on_metrics(metrics)

    model.train()
    stop_at = config.max_steps if stop_after_steps is None else min(config.max_steps, step + stop_after_steps)
    window_start, window_tokens, window_loss, window_steps = time.perf_counter(), 0, 0.0, 0
    call_tokens, call_s = 0, 0.0
    while step < stop_at:
        t0 = time.perf_counter()
        rows = _batch_indices(step, len(blocks), config)
        batch = blocks[rows]
        loss = model(input_ids=batch, labels=labels[rows], use_cache=False).loss
        loss.backward()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        spent = time.perf_counter() - t0
        train_s, call_s, call_tokens = train_s + spent, call_s + spent, call_tokens + batch.numel()
        window_tokens, window_loss, window_steps = (
            window_tokens + batch.numel(),
            window_loss + loss.item(),
            window_steps + 1,
        )
        if step % config.log_every_steps == 0 or step == config.max_steps:
            elapsed = time.perf_counter() - window_start
            metrics = {
                "step": step,
                "loss": window_loss / window_steps,
                "learning_rate": scheduler.get_last_lr()[0],
                "tokens_per_s": window_tokens / elapsed if elapsed > 0 else 0.0,
                "eta_s": (config.max_steps - step) * elapsed / window_steps,
            }
            log.info(
                "step %d/%d | loss %.4f | %.0f tokens/s | eta %.0fs",
                step,
                config.max_steps,
                metrics["loss"],
                metrics["tokens_per_s"],
                metrics["eta_s"],
            )
            if on_metrics:
                on_metrics(metrics)
            window_start, window_tokens, window_loss, window_steps = time.perf_counter(), 0, 0.0, 0
        if (config.eval_every_steps and step % config.eval_every_steps == 0) or step == config.max_steps:
            evaluate()
            model.train()
            window_start = time.perf_counter()
        if step % config.save_every_steps == 0 or step == config.max_steps:
            _save(
                output_dir,
                step,
                model,
                optimizer,
                scheduler,
                {"step": step, "train_s": train_s, "curve": [p.model_dump() for p in curve]},
            )

    completed = step >= config.max_steps
    model_dir = _save_model(output_dir, model, tokenizer, config, corpus_digest, curve) if completed else None
    attention = 6 * config.num_hidden_layers * config.seq_length * config.hidden_size  # QK^T and AV, forward+backward
    return PretrainResult(
        model_dir=model_dir,
        completed=completed,
        steps=step,
        resumed_from_step=resumed_from,
        parameters=parameters,
        train_tokens=step * config.batch_size * config.seq_length,
        train_blocks=len(blocks),
        exercise_blocks=len(blocks) - n_text,
        heldout_tokens=heldout.numel(),
        initial_heldout_perplexity=curve[0].heldout_perplexity,
        heldout_perplexity=curve[-1].heldout_perplexity if completed else None,
        initial_heldout_copy_accuracy=curve[0].heldout_copy_accuracy,
        heldout_copy_accuracy=curve[-1].heldout_copy_accuracy if completed else None,
        tokens_per_s=call_tokens / call_s if call_s else 0.0,
        flops_per_token=6 * parameters + attention,
        curve=curve,
        wall_s=time.perf_counter() - started,
    )


def _with_exercises(
    tokenizer: Any,
    blocks: Any,
    config: PretrainConfig,
    docs: Sequence[Document],
    heldout_docs: Sequence[Document],
) -> tuple[Any, Any, tuple[Any, Any] | None]:
    """(labels, blocks, held-out exercises): the text blocks followed by `exercise_fraction` of reading
    exercises; the labels of a text block are its tokens, an exercise's only its target."""
    import torch

    if config.exercise_fraction == 0 or not docs:
        return blocks, blocks, None
    # `exercise_fraction` of all the blocks, at about one exercise per block
    wanted = math.ceil(len(blocks) * config.exercise_fraction / (1 - config.exercise_fraction))
    ids, labels = exercise_blocks(
        tokenizer,
        reading_exercises(docs, wanted, config.exercise_passage_chars, config.seed),
        config.seq_length,
    )
    if not len(ids):
        raise PretrainDataError(
            f"no reading exercise of {config.exercise_passage_chars}-character passages fits a block of "
            f"{config.seq_length} tokens: raise seq_length, lower exercise_passage_chars, or set exercise_fraction 0"
        )
    ids, labels = ids[:wanted], labels[:wanted]
    heldout = None
    if heldout_docs:
        exercises = reading_exercises(heldout_docs, HELDOUT_EXERCISES, config.exercise_passage_chars, config.seed + 1)
        heldout = exercise_blocks(tokenizer, exercises, config.seq_length)
    log.info("%d reading-exercise blocks beside %d text blocks", len(ids), len(blocks))
    return torch.cat([blocks, labels]), torch.cat([blocks, ids]), heldout


def _copy_accuracy(model: Any, exercises: tuple[Any, Any] | None, batch_size: int = 32) -> float | None:
    """Share of the exercises' target tokens that are the model's top prediction (teacher-forced)."""
    import torch

    if exercises is None or not len(exercises[0]):
        return None
    ids, labels = exercises
    was_training = model.training
    model.eval()
    right = total = 0
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            logits = model(input_ids=ids[start : start + batch_size], use_cache=False).logits[:, :-1]
            wanted = labels[start : start + batch_size, 1:]
            scored = wanted != -100
            right += int(((logits.argmax(-1) == wanted) & scored).sum())
            total += int(scored.sum())
    model.train(was_training)
    return right / total if total else None


def _lr_factor(step: int, config: PretrainConfig) -> float:
    """Linear warmup, then cosine decay to `min_lr_ratio` of the peak at `max_steps`."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _batch_indices(step: int, n_blocks: int, config: PretrainConfig) -> list[int]:
    """The rows of step `step`: positions [step*b, (step+1)*b) of a stream of seeded permutations of
    all the blocks (text and exercises alike), one per epoch.

    (Measured here at 1,500 steps and fraction 0.5, against batches of exactly half exercises, each
    exercise read once: held-out perplexity 37.6 against 43.4, copy accuracy 0.313 against 0.274, and
    ROUGE-L with retrieval 0.365 against 0.183 after the same fine-tune.)"""
    return _stream(step * config.batch_size, config.batch_size, n_blocks, config.seed)


def _stream(position: int, count: int, n: int, seed: int) -> list[int]:
    """`count` items from `position` of the stream of seeded permutations of range(n), one per epoch."""
    import torch

    out: list[int] = []
    while len(out) < count:
        epoch, offset = divmod(position, n)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        take = order[offset : offset + count - len(out)].tolist()
        out += take
        position += len(take)
    return out


def _perplexity(model: Any, blocks: Any, batch_size: int = 32) -> float:
    """exp(mean next-token loss) over every token of the held-out blocks but each block's first."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(blocks), batch_size):
            batch = blocks[start : start + batch_size]
            n = batch.numel() - batch.shape[0]
            total += model(input_ids=batch, labels=batch, use_cache=False).loss.double().item() * n
            count += n
    model.train(was_training)
    return math.exp(total / count)


# --- the output directory --------------------------------------------------------------------------


def _claim(output_dir: Path, corpus_digest: str, config: PretrainConfig) -> None:
    marker = output_dir / MARKER
    if marker.is_file():
        found = json.loads(marker.read_text())
        wanted = {"corpus_digest": corpus_digest, "recipe_hash": config.recipe_hash()}
        differences = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
        if differences:
            listed = "; ".join(f"{k}: found {a!r}, requested {b!r}" for k, (a, b) in differences.items())
            raise PretrainResumeError(
                f"{output_dir} holds another pretraining run ({listed}); refusing to resume "
                "into it. Key the directory by corpus and recipe, or delete it to start over."
            )
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_json(
        marker,
        {"corpus_digest": corpus_digest, "recipe_hash": config.recipe_hash(), "config": config.model_dump(mode="json")},
    )


def _tokenizer(output_dir: Path, texts: Sequence[str], config: PretrainConfig) -> Any:
    from transformers import PreTrainedTokenizerFast

    path = output_dir / TOKENIZER
    if (path / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(str(path))
    tokenizer = build_tokenizer(texts, config.vocab_size)
    staging = output_dir / f".{TOKENIZER}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer.save_pretrained(staging)
    staging.rename(path)
    return tokenizer


def _latest(output_dir: Path) -> Path | None:
    root = output_dir / CHECKPOINTS
    done = sorted(p for p in root.glob("step-*") if p.is_dir()) if root.is_dir() else []
    return done[-1] if done else None


def _save(output_dir: Path, step: int, model: Any, optimizer: Any, scheduler: Any, meta: Mapping[str, Any]) -> None:
    import torch

    root = output_dir / CHECKPOINTS
    final, staging = root / f"step-{step:08d}", root / f".step-{step:08d}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng_torch": torch.get_rng_state()},
        staging / "state.pt",
    )
    _write_json(staging / "state.json", meta)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)  # the commit point: a crash before it leaves only a staging directory
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)


def _load(path: Path, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file

    missing, unexpected = model.load_state_dict(load_file(path / "model.safetensors"), strict=False)
    # tied embeddings are saved once: the output head's weight is the embedding's
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise PretrainResumeError(
            f"checkpoint {path} does not fit this model (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); delete it to start over"
        )
    model.tie_weights()
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_torch"])
    return json.loads((path / "state.json").read_text())


def _save_model(
    output_dir: Path, model: Any, tokenizer: Any, config: PretrainConfig, corpus_digest: str, curve: list[CurvePoint]
) -> Path:
    final, staging = output_dir / MODEL, output_dir / f".{MODEL}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    _write_json(
        staging / "pretrain.json",
        {
            "config": config.model_dump(mode="json"),
            "recipe_hash": config.recipe_hash(),
            "corpus_digest": corpus_digest,
            "curve": [p.model_dump() for p in curve],
        },
    )
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    tmp.replace(path)
