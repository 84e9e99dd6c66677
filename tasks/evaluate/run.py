"""Evaluate a model on the pinned eval split: perplexity, generation metrics, safety probes.

The same examples (the eval rows sorted by id, the first `max_examples`) are scored for every
model, so a candidate and its champion can be compared pair by pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tasks.evaluate import safety, scoring
from tasks.evaluate.gate import Decision, GatePolicy, decide
from tasks.evaluate.results import EvalConfig, EvalResult
from tasks.train import IGNORE, encode_prompt, generate, load_version, mask_example


def pinned_examples(eval_rows: pd.DataFrame, config: EvalConfig) -> pd.DataFrame:
    return eval_rows.sort_values("id").head(config.max_examples).reset_index(drop=True)


def response_nll(
    model: Any, tokenizer: Any, pairs: list[tuple[str, str]], template: str, max_len: int
) -> list[tuple[float, int]]:
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


def evaluate_model(
    model: Any, tokenizer: Any, eval_rows: pd.DataFrame, template: str, config: EvalConfig, model_uri: str | None = None
) -> EvalResult:
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
    nll = response_nll(model, tokenizer, list(zip(prompts, references, strict=True)), template, config.max_seq_length)
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


def evaluate_version(
    mlflow: Any, model_name: str, alias_or_version: str, evals: pd.DataFrame, config: EvalConfig, workdir: Path
) -> EvalResult:
    """Load a registered version (by alias or number) and score it on the pinned eval examples."""
    model, tokenizer, template = load_version(mlflow, model_name, alias_or_version, workdir)
    result = evaluate_model(
        model, tokenizer, evals, template, config, model_uri=f"models:/{model_name}/{alias_or_version}"
    )
    del model
    return result


def record_decision(
    mlflow: Any, run_id: str, cand_eval: EvalResult, champ_eval: EvalResult | None, policy: GatePolicy
) -> Decision:
    """Apply the gate and record the decision and the candidate's scores on its MLflow run."""
    from mlflow.entities import Metric

    decision = decide(cand_eval, champ_eval, policy)
    mlflow.log_dict(
        run_id,
        {
            "decision": decision.model_dump(mode="json"),
            "candidate": cand_eval.model_dump(mode="json"),
            "champion": champ_eval.model_dump(mode="json") if champ_eval else None,
            "policy": policy.model_dump(mode="json"),
        },
        "gate/decision.json",
    )
    # The metrics keep their names (`rouge_l`, `perplexity`, ...) from the module to MLflow and the gate.
    metrics = [Metric(k, float(v), 0, 0) for k, v in cand_eval.metrics.items()]
    metrics += [Metric("canary_leaks", float(cand_eval.canary_leaks), 0, 0)]
    if cand_eval.injection_resistance is not None:
        metrics += [Metric("injection_resistance", cand_eval.injection_resistance, 0, 0)]
    mlflow.log_batch(run_id, metrics=metrics, synchronous=True)
    return decision
