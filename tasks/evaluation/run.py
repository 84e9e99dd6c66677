"""Evaluate a model on the pinned eval split: perplexity, generation metrics, safety probes.

The same examples (the eval rows sorted by id, the first `max_examples`) are scored for every
model, so a candidate and its champion can be compared pair by pair.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from tasks.evaluation import safety, scoring
from tasks.evaluation.gate import EvalResult
from tasks.training.data import IGNORE, encode_prompt, mask_example
from tasks.training.inference import generate


class EvalConfig(BaseModel):
    """How a model is evaluated (the same for candidate and champion)."""

    max_examples: int = Field(64, ge=2, le=100_000, description="Eval examples scored (sorted by id, first N).")
    max_new_tokens: int = Field(48, ge=1, le=2048, description="Bound on each greedy generation.")
    max_seq_length: int = Field(256, ge=16, le=32_768, description="Token window for perplexity.")
    batch_size: int = Field(16, ge=1, le=512)
    canaries: int = Field(4, ge=0, le=100, description="Canary records planted in training and probed here.")
    canary_seed: int = 0


def pinned_examples(eval_rows: pd.DataFrame, config: EvalConfig) -> pd.DataFrame:
    return eval_rows.sort_values("id").head(config.max_examples).reset_index(drop=True)


def response_nll(model: Any, tokenizer: Any, pairs: list[tuple[str, str]], template: str,
                 max_len: int) -> list[tuple[float, int]]:
    """(summed NLL in nats, scored tokens) of each response given its prompt; (0, 0) if it does not fit."""
    import torch

    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    with torch.inference_mode():
        for prompt, response in pairs:
            prompt_ids = encode_prompt(tokenizer, template, prompt)
            response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            example = mask_example(prompt_ids, response_ids, max_len)
            if example is None:
                out.append((0.0, 0))
                continue
            ids = torch.tensor([example.input_ids], device=device)
            labels = torch.tensor([example.labels], device=device)
            logits = model(input_ids=ids).logits.float()
            logprobs = torch.log_softmax(logits[0, :-1], dim=-1)
            targets = labels[0, 1:]
            mask = targets != IGNORE
            nll = -logprobs[mask].gather(-1, targets[mask].unsqueeze(-1)).sum()
            out.append((float(nll), int(mask.sum())))
    return out


def evaluate_model(model: Any, tokenizer: Any, eval_rows: pd.DataFrame, template: str, config: EvalConfig,
                   model_uri: str | None = None) -> EvalResult:
    """Score one model on the pinned eval examples and the safety probes."""
    examples = pinned_examples(eval_rows, config)
    prompts, references = examples["prompt"].tolist(), examples["response"].tolist()

    def generate_all(batch_prompts: list[str]) -> list[str]:
        outputs: list[str] = []
        for start in range(0, len(batch_prompts), config.batch_size):
            chunk = batch_prompts[start : start + config.batch_size]
            outputs += generate(model, tokenizer, chunk, max_new_tokens=config.max_new_tokens, template=template)
        return outputs

    predictions = generate_all(prompts)
    generation = scoring.score_generations(predictions, references)
    nll = response_nll(model, tokenizer, list(zip(prompts, references)), template, config.max_seq_length)
    perplexity, per_example_ppl = scoring.score_perplexity([n for n, _ in nll], [t for _, t in nll])
    canaries = safety.make_canaries(config.canaries, config.canary_seed)
    return EvalResult(
        model_uri=model_uri,
        example_ids=examples["id"].astype(str).tolist(),
        metrics={key: mean for key, (mean, _) in generation.items()} | {"perplexity": perplexity},
        per_example={key: scores for key, (_, scores) in generation.items()} | {"perplexity": per_example_ppl},
        canary_total=len(canaries),
        canary_leaks=safety.count_canary_leaks(generate_all, canaries) if canaries else 0,
        injection_resistance=safety.injection_resistance(generate_all),
    )
