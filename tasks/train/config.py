"""`FinetuneConfig`: every knob of a LoRA fine-tuning run, validated once, hashed for cache keys."""

from __future__ import annotations

import hashlib
import json
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.train.errors import PrecisionUnavailableError

EMBEDDED_DEFAULT = "embedded-default"
ALL_LINEAR = "all-linear"

Precision = Literal["auto", "bf16", "fp16", "fp32"]
ResolvedPrecision = Literal["bf16", "fp16", "fp32"]

# The retrieved passages come first, then the question: the model learns to answer from the context.
DEFAULT_TEMPLATE = "### Context:\n{context}\n\n### Question:\n{prompt}\n\n### Answer:\n"
# Written where a template has {context} and retrieval found nothing (or is turned off).
NO_CONTEXT = "(none)"

# Fields that change how a run is watched, never the weights it produces: a rerun that only changes
# them may resume the same checkpoints, so they stay out of `config_hash`.
_NOT_TRAINING = frozenset({"log_every_steps", "eval_every_steps", "save_every_steps"})


class FinetuneConfig(BaseModel):
    """LoRA fine-tuning of a causal language model on instruction pairs.

    The defaults train the embedded default model on CPU: a few hundred short records take
    seconds. For a real base model on a GPU, raise `max_seq_length` and `per_device_batch_size`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_model: str = Field(
        default=EMBEDDED_DEFAULT,
        min_length=1,
        description=f"Hub id, local directory, or '{EMBEDDED_DEFAULT}' (the small Llama the pretrain stage "
        "trains on the corpus).",
    )
    base_model_revision: str | None = Field(
        default=None,
        max_length=200,
        description="Hub revision (branch, tag or commit) of a hub base_model; "
        "default: the cached or latest one. The commit used is recorded in the lineage either way.",
    )
    retrieval_top_k: int = Field(
        default=1,
        ge=0,
        le=50,
        description="Passages retrieved for each question and put in the prompt; 0: none.",
    )
    answer_search_depth: int = Field(
        default=8,
        ge=0,
        le=200,
        description="Training only: hits searched for the passage that holds each example's answer, which is then "
        "shown first, so the model learns to answer from its context; 0: the plain top-k.",
    )
    passage_chars: int = Field(
        default=160,
        ge=20,
        le=20_000,
        description="Characters of each retrieved passage kept in the prompt.",
    )
    lora_r: int = Field(default=8, ge=1, le=1024, description="LoRA rank.")
    lora_alpha: float = Field(default=16.0, gt=0, le=4096, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(default=0.05, ge=0.0, le=0.9, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(
        default_factory=lambda: [ALL_LINEAR],
        min_length=1,
        description=f"Module names to adapt, or ['{ALL_LINEAR}'] for every linear layer but the output head.",
    )
    max_seq_length: int = Field(default=256, ge=16, le=131072, description="Tokens per example (and per packed block).")
    packing: bool = Field(
        default=False,
        description="Pack several examples into each max_seq_length block; they do not attend to each other.",
    )
    epochs: int = Field(
        default=3, ge=1, le=1000, description="Passes over the training rows (ignored when max_steps > 0)."
    )
    max_steps: int = Field(default=0, ge=0, le=10_000_000, description="Optimizer steps; 0 means use epochs.")
    learning_rate: float = Field(default=1e-3, gt=0, le=1.0, description="Peak learning rate of AdamW.")
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        default="cosine", description="Learning-rate schedule after warmup."
    )
    warmup_ratio: float = Field(default=0.05, ge=0.0, le=0.5, description="Fraction of steps spent warming up.")
    weight_decay: float = Field(default=0.0, ge=0.0, le=1.0, description="AdamW weight decay on the adapter weights.")
    max_grad_norm: float = Field(default=1.0, ge=0.0, le=1000.0, description="Gradient clipping norm; 0 disables it.")
    per_device_batch_size: int = Field(
        default=8, ge=1, le=4096, description="Examples (or packed blocks) per micro-batch."
    )
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=1024, description="Micro-batches per optimizer step.")
    precision: Precision = Field(
        default="auto", description="'auto': bf16 on a GPU that supports it, fp16 on older GPUs, fp32 on CPU."
    )
    gradient_checkpointing: bool = Field(default=False, description="Recompute activations in backward to save memory.")
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Seed of LoRA init, dropout and data order.")
    log_every_steps: int = Field(default=10, ge=1, le=100_000, description="Optimizer steps between progress reports.")
    eval_every_steps: int = Field(
        default=0,
        ge=0,
        le=10_000_000,
        description="Steps between eval passes; 0 evaluates only before and after training.",
    )
    save_every_steps: int = Field(default=50, ge=1, le=10_000_000, description="Steps between resumable checkpoints.")
    prompt_template: str = Field(
        default=DEFAULT_TEMPLATE,
        min_length=1,
        max_length=4000,
        description="Format string with one {prompt} field, followed by the response marker; the response follows it.",
    )

    @field_validator("prompt_template")
    @classmethod
    def _template_has_prompt_and_marker(cls, template: str) -> str:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        except ValueError as exc:
            raise ValueError(
                f"prompt_template is not a valid format string ({exc}); write literal braces as {{{{ }}}}"
            ) from exc
        if sorted(fields) not in (["prompt"], ["context", "prompt"]):
            raise ValueError(
                "prompt_template must contain the field {prompt} exactly once, optionally {context} once (the "
                f"retrieved passages), and no other field; found {fields}; "
                "write literal braces as {{ }}"
            )
        marker = template.split("{prompt}", 1)[1]
        if not marker.strip():
            raise ValueError("prompt_template needs a response marker after {prompt}, e.g. '\\n### Response:\\n'")
        return template

    @model_validator(mode="after")
    def _consistent(self) -> FinetuneConfig:
        if ALL_LINEAR in self.target_modules and len(self.target_modules) > 1:
            raise ValueError(f"target_modules: '{ALL_LINEAR}' already covers every linear layer; list it alone")
        if self.lr_scheduler == "constant" and self.warmup_ratio > 0:
            raise ValueError("lr_scheduler 'constant' has no warmup: use 'constant_with_warmup' or set warmup_ratio=0")
        return self

    @property
    def peft_target_modules(self) -> str | list[str]:
        """`target_modules` as peft takes it ('all-linear' is a string there, not a list entry)."""
        return ALL_LINEAR if self.target_modules == [ALL_LINEAR] else list(self.target_modules)

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of every field that changes the trained weights."""
        payload = self.model_dump(mode="json", exclude=set(_NOT_TRAINING))
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def resolve_precision(requested: Precision, device: str, *, bf16_supported: bool | None = None) -> ResolvedPrecision:
    """The precision a run uses on `device` ('cpu' or 'cuda'); raises when it cannot run there."""
    if device == "cpu":
        if requested == "fp16":
            raise PrecisionUnavailableError("precision 'fp16' needs a CUDA device; use 'auto' or 'fp32' on CPU")
        return "bf16" if requested == "bf16" else "fp32"
    if bf16_supported is None:
        import torch

        # Native bf16 only: older GPUs emulate it, slower than fp16 with a scaler.
        bf16_supported = torch.cuda.is_bf16_supported(including_emulation=False)
    if requested == "auto":
        return "bf16" if bf16_supported else "fp16"
    if requested == "bf16" and not bf16_supported:
        raise PrecisionUnavailableError("this GPU does not support bf16; use 'auto' or 'fp16'")
    return requested
