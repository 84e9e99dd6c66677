"""Load a trained adapter on its base model and use it: greedy generation, raw logits."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.train.base_model import from_pretrained_kwargs
from tasks.train.data import encode_prompt
from tasks.train.errors import BaseModelNotFoundError

if TYPE_CHECKING:
    import torch


def read_training_config(adapter_dir: Path) -> dict[str, Any]:
    """The `training_config.json` that `train_lora` wrote beside the adapter."""
    return json.loads((Path(adapter_dir) / "training_config.json").read_text())


def load_adapter_model(adapter_dir: Path, *, device: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) for evaluation: the base recorded in the adapter config, with the adapter on top.

    The model is in eval mode on `device` (CUDA when present unless told otherwise), in bf16 on a
    GPU that supports it and fp32 otherwise.
    """
    import torch
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir = Path(adapter_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    base = PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    if not base:
        raise BaseModelNotFoundError(f"{adapter_dir}/adapter_config.json records no base model path")
    dtype = (
        torch.bfloat16
        if device == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
        else torch.float32
    )
    try:
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=dtype, attn_implementation="sdpa", **from_pretrained_kwargs()
        )
    except OSError as exc:
        raise BaseModelNotFoundError(f"cannot load the base model {base!r} recorded in {adapter_dir}: {exc}") from exc
    model = PeftModel.from_pretrained(model, str(adapter_dir)).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir), **from_pretrained_kwargs())
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    template: str = "{prompt}",
    contexts: Sequence[str] | None = None,
) -> list[str]:
    """Greedy completions of `prompts` (each with its retrieved `contexts`), formatted exactly as in training."""
    import torch

    contexts = contexts if contexts is not None else [""] * len(prompts)
    encoded = [encode_prompt(tokenizer, template, p, c) for p, c in zip(prompts, contexts, strict=True)]
    if not encoded:
        return []
    width = max(len(ids) for ids in encoded)
    pad = tokenizer.pad_token_id
    # Left padding, so every row's next token comes right after its prompt.
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded])
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
            eos_token_id=tokenizer.eos_token_id,
        )
    return [tokenizer.decode(row[width:], skip_special_tokens=True) for row in out.tolist()]


def generate_stream(
    model: Any,
    tokenizer: Any,
    prompt: str,
    max_new_tokens: int = 64,
    template: str = "{prompt}",
    context: str = "",
) -> Iterator[str]:
    """The greedy completion of one prompt, piece by piece as it is decoded (the same text `generate` gives)."""
    import threading

    import torch
    from transformers import TextIteratorStreamer

    ids = encode_prompt(tokenizer, template, prompt, context)
    device = next(model.parameters()).device
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)

    def run() -> None:
        with torch.inference_mode():
            model.generate(
                input_ids=torch.tensor([ids], device=device),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                streamer=streamer,
            )

    worker = threading.Thread(target=run, daemon=True, name="llmops-generate")
    worker.start()
    yield from (piece for piece in streamer if piece)
    worker.join()


def logits_for(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[torch.Tensor]:
    """Float32 logits, one [tokens, vocab] tensor per text (tokenized with bos, no template), on CPU."""
    import torch

    device = next(model.parameters()).device
    results = []
    with torch.inference_mode():
        for text in texts:
            ids = encode_prompt(tokenizer, "{prompt}", text)
            logits = model(input_ids=torch.tensor([ids], device=device), use_cache=False).logits
            results.append(logits[0].float().cpu())
    return results
