"""The embedded default's architecture: a byte-level BPE tokenizer trained on the corpus, and a small
Llama-shaped model initialised from a seed (weights only random until `tasks.pretrain.loop` trains them).

`build_embedded_model` saves such a random model with its tokenizer to a directory: the starting
point of pretraining, and, untrained, the "random model of the same shape" the gate must reject.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import LLMOpsError

log = logging.getLogger(__name__)


class PretrainDataError(LLMOpsError):
    """The corpus gives nothing to train the tokenizer or the model on."""


PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"


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
    """Train the tokenizer on `texts`, initialise the model from `spec` (random weights), save both to `out_dir`."""
    spec = spec or EmbeddedModelSpec()
    if not texts:
        raise PretrainDataError(
            "the embedded default model needs texts to train its tokenizer on; got none: "
            "give the lifecycle sources with documents (.md/.txt files, or records with a text field)"
        )
    tokenizer = build_tokenizer(texts, spec.vocab_size)
    model = new_model(spec, tokenizer)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def new_model(spec: Any, tokenizer: Any) -> Any:
    """A randomly initialised LlamaForCausalLM of `spec`'s shape (an EmbeddedModelSpec or a PretrainConfig),
    seeded by `spec.seed`, its embeddings tied to the output head."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

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
        return LlamaForCausalLM(config)
