"""The base model to fine-tune: the embedded default (a tiny Llama built here), a local directory or a hub id.

No package ships causal-LM weights, so the embedded default is made on the spot: a byte-level BPE
tokenizer trained on the run's own texts and a randomly initialised Llama-shaped model, both saved
to a directory. peft records that directory as `base_model_name_or_path`, so an adapter reloads
without the hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.train.config import EMBEDDED_DEFAULT, FinetuneConfig
from tasks.train.errors import BaseModelNotFoundError, TrainingDataError

log = logging.getLogger(__name__)

PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
_COMPLETE = "BUILD_COMPLETE"
# Bump when the build recipe changes, so cached builds of the old recipe are not reused.
_RECIPE_VERSION = 1


class EmbeddedModelSpec(BaseModel):
    """Shape of the embedded default model. The defaults make a ~0.4M-parameter model that trains at
    several thousand tokens/s on two CPU cores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(
        default=2048, ge=300, le=65536, description="BPE vocabulary including the 256 bytes and the special tokens."
    )
    hidden_size: int = Field(default=64, ge=8, le=8192)
    intermediate_size: int = Field(default=176, ge=8, le=32768)
    num_hidden_layers: int = Field(default=2, ge=1, le=128)
    num_attention_heads: int = Field(default=4, ge=1, le=128)
    num_key_value_heads: int = Field(default=2, ge=1, le=128)
    max_position_embeddings: int = Field(default=2048, ge=64, le=131072)
    seed: int = Field(default=0, ge=0, description="Seed of the random initial weights.")


def texts_digest(texts: Iterable[str]) -> str:
    """sha256 over the texts, order-sensitive and unambiguous about boundaries."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def build_tokenizer(texts: Sequence[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `texts`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS)


def build_embedded_model(texts: Sequence[str], out_dir: Path, spec: EmbeddedModelSpec | None = None) -> Path:
    """Train the tokenizer on `texts`, initialise the model from `spec`, save both to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    spec = spec or EmbeddedModelSpec()
    if not texts:
        raise TrainingDataError("the embedded default model needs texts to train its tokenizer on; got none")
    tokenizer = build_tokenizer(texts, spec.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    # A private generator state: building must not move the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = LlamaForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def hf_offline() -> bool:
    """Whether the hub must not be contacted (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set to a true value)."""
    return any(
        os.environ.get(k, "").strip().lower() in {"1", "true", "yes", "on"}
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def resolve_base_model(
    config: FinetuneConfig,
    texts: Sequence[str],
    cache_dir: Path,
    spec: EmbeddedModelSpec | None = None,
) -> Path | str:
    """The directory or hub id to load `config.base_model` from.

    For the embedded default, builds the model once into `cache_dir`, keyed by the texts and the
    spec, and returns its directory. A local directory is returned as a Path. A hub id is returned
    unchanged; when the hub is off limits, it must already be in the local hub cache.
    """
    name = config.base_model
    if name == EMBEDDED_DEFAULT:
        return _cached_embedded_model(texts, Path(cache_dir), spec or EmbeddedModelSpec())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BaseModelNotFoundError(
                f"base_model {name!r} is a directory without config.json; point it at a saved model"
            )
        return path
    if path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1:
        raise BaseModelNotFoundError(f"base_model {name!r} looks like a local path but is not a directory")
    if hf_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise BaseModelNotFoundError(
                f"base_model {name!r} is not in the local hub cache and the hub is offline (HF_HUB_OFFLINE); "
                f"download it first, point base_model at a local directory, or use '{EMBEDDED_DEFAULT}'"
            )
    return name


def _cached_embedded_model(texts: Sequence[str], cache_dir: Path, spec: EmbeddedModelSpec) -> Path:
    key_material = {"texts": texts_digest(texts), "spec": spec.model_dump(), "recipe": _RECIPE_VERSION}
    key = hashlib.sha256(json.dumps(key_material, sort_keys=True).encode()).hexdigest()[:16]
    target = cache_dir / f"embedded-{key}"
    if (target / _COMPLETE).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: a crash never leaves a half-written model under the key,
    # and of two concurrent builders the second finds the first's result.
    staging = Path(tempfile.mkdtemp(prefix=f".embedded-{key}-", dir=cache_dir))
    try:
        log.info("building the embedded default model into %s (%d texts)", target, len(texts))
        build_embedded_model(texts, staging, spec)
        (staging / _COMPLETE).write_text(json.dumps(key_material, sort_keys=True))
        try:
            staging.rename(target)
        except OSError:
            if not (target / _COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def from_pretrained_kwargs() -> dict[str, object]:
    """Keyword arguments every `from_pretrained` call here shares."""
    return {"local_files_only": hf_offline()}
