"""Evaluate a model on the pinned eval split: perplexity, generation metrics, safety probes.

The same examples (the eval rows sorted by id, the first `max_examples`) are scored for every
model, so a candidate and its champion can be compared pair by pair.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.evaluate import safety, scoring
from tasks.evaluate.gate import Decision, GatePolicy, decide
from tasks.evaluate.results import EvalConfig, EvalResult
from tasks.train import IGNORE, encode_prompt, generate, load_version, mask_example, read_training_config, resolve


def pinned_examples(eval_rows: pd.DataFrame, config: EvalConfig) -> pd.DataFrame:
    return eval_rows.sort_values("id").head(config.max_examples).reset_index(drop=True)


def response_nll(
    model: Any, tokenizer: Any, pairs: list[tuple[str, str, str]], template: str, max_len: int
) -> list[tuple[float, int]]:
    """(summed NLL in nats, scored tokens) of each (prompt, response, context); (0, 0) if it does not fit."""
    import torch

    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    with torch.inference_mode():
        for prompt, response, context in pairs:
            prompt_ids = encode_prompt(tokenizer, template, prompt, context)
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
    model: Any,
    tokenizer: Any,
    eval_rows: pd.DataFrame,
    template: str,
    config: EvalConfig,
    model_uri: str | None = None,
) -> EvalResult:
    """Score one model on the pinned eval examples and the safety probes.

    Rows with a `context` column (the retrieved passages) are scored with it; the generation metrics
    are then also computed without it, as `<metric>_no_retrieval`, so the share of the score that
    retrieval brings is on the record.
    """
    examples = pinned_examples(eval_rows, config)
    prompts, references = examples["prompt"].tolist(), examples["response"].tolist()
    contexts = examples["context"].astype(str).tolist() if "context" in examples.columns else [""] * len(prompts)

    def generate_all(batch_prompts: list[str], batch_contexts: list[str] | None = None) -> list[str]:
        batch_contexts = batch_contexts or [""] * len(batch_prompts)
        outputs: list[str] = []
        for start in range(0, len(batch_prompts), config.batch_size):
            stop = start + config.batch_size
            outputs += generate(
                model,
                tokenizer,
                batch_prompts[start:stop],
                max_new_tokens=config.max_new_tokens,
                template=template,
                contexts=batch_contexts[start:stop],
            )
        return outputs

    predictions = generate_all(prompts, contexts)
    generation = scoring.score_generations(predictions, references)
    triples = list(zip(prompts, references, contexts, strict=True))
    nll = response_nll(model, tokenizer, triples, template, config.max_seq_length)
    perplexity, per_example_ppl = scoring.score_perplexity([n for n, _ in nll], [t for _, t in nll])
    metrics = {key: mean for key, (mean, _) in generation.items()} | {"perplexity": perplexity}
    if any(contexts):
        without = scoring.score_generations(generate_all(prompts), references)
        metrics |= {f"{key}_no_retrieval": mean for key, (mean, _) in without.items()}
    canaries = safety.make_canaries(config.canaries, config.canary_seed)
    return EvalResult(
        model_uri=model_uri,
        example_ids=examples["id"].astype(str).tolist(),
        metrics=metrics,
        per_example={key: scores for key, (_, scores) in generation.items()} | {"perplexity": per_example_ppl},
        canary_total=len(canaries),
        canary_leaks=safety.count_canary_leaks(generate_all, canaries) if canaries else 0,
        injection_resistance=safety.injection_resistance(generate_all),
        predictions=predictions[: config.keep_predictions],
    )


# (questions, top_k, passage_chars) -> one formatted context per question
Retriever = Callable[[list[str], int, int], list[str]]


def with_contexts(evals: pd.DataFrame, retriever: Retriever | None, settings: dict[str, Any]) -> pd.DataFrame:
    """The eval rows with the passages a model trained with `settings` (its training config) is given."""
    top_k, chars = int(settings.get("retrieval_top_k", 0)), int(settings.get("passage_chars", 200))
    if retriever is None or top_k <= 0:
        return evals.drop(columns=["context"], errors="ignore")
    return evals.assign(context=retriever(evals["prompt"].astype(str).tolist(), top_k, chars))


def evaluate_version(
    mlflow: Any,
    model_name: str,
    alias_or_version: str,
    evals: pd.DataFrame,
    config: EvalConfig,
    workdir: Path,
    retriever: Retriever | None = None,
) -> EvalResult:
    """Load a registered version (by alias or number) and score it on the pinned eval examples, each with
    the passages the retriever finds, as many and as long as the version was trained with."""
    model, tokenizer, template = load_version(mlflow, model_name, alias_or_version, workdir)
    settings = read_training_config(workdir / "adapter")["config"]
    rows = with_contexts(pinned_examples(evals, config), retriever, settings)
    result = evaluate_model(
        model, tokenizer, rows, template, config, model_uri=f"models:/{model_name}/{alias_or_version}"
    )
    del model
    return result


def evaluate_base(
    mlflow: Any,
    model_name: str,
    version: str,
    evals: pd.DataFrame,
    config: EvalConfig,
    workdir: Path,
    retriever: Retriever | None = None,
) -> EvalResult:
    """The version's base model, without its adapter, prompted exactly as the version is: the baseline
    a fine-tune must beat."""
    model, tokenizer, template = load_version(mlflow, model_name, version, workdir)
    settings = read_training_config(workdir / "adapter")["config"]
    rows = with_contexts(pinned_examples(evals, config), retriever, settings)
    with model.disable_adapter():
        result = evaluate_model(
            model,
            tokenizer,
            rows,
            template,
            config,
            model_uri=f"{resolve(mlflow, model_name, version).lineage.base_model} (base of "
            f"models:/{model_name}/{version})",
        )
    del model
    return result


def record_decision(
    mlflow: Any,
    run_id: str,
    cand_eval: EvalResult,
    champ_eval: EvalResult | None,
    policy: GatePolicy,
    base_eval: EvalResult | None = None,
) -> Decision:
    """Apply the gate and record the decision and the candidate's scores on its MLflow run."""
    from mlflow.entities import Metric

    decision = decide(cand_eval, champ_eval, policy, baseline=base_eval)
    mlflow.log_dict(
        run_id,
        {
            "decision": decision.model_dump(mode="json"),
            "candidate": cand_eval.model_dump(mode="json"),
            "champion": champ_eval.model_dump(mode="json") if champ_eval else None,
            "base_model": base_eval.model_dump(mode="json") if base_eval else None,
            "policy": policy.model_dump(mode="json"),
        },
        "gate/decision.json",
    )
    # The metrics keep their names (`rouge_l`, `perplexity`, ...) from the module to MLflow and the gate.
    metrics = [Metric(k, float(v), 0, 0) for k, v in cand_eval.metrics.items()]
    metrics += [Metric("canary_leaks", float(cand_eval.canary_leaks), 0, 0)]
    if cand_eval.injection_resistance is not None:
        metrics += [Metric("injection_resistance", cand_eval.injection_resistance, 0, 0)]
    if base_eval is not None:
        metrics += [Metric(f"base_{k}", float(v), 0, 0) for k, v in base_eval.metrics.items()]
    mlflow.log_batch(run_id, metrics=metrics, synchronous=True)
    return decision
