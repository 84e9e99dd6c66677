"""Perplexity from per-example summed negative log-likelihoods and token counts.

The model is run by the caller (our models are local and may be adapters, which evaluate's hub
perplexity module cannot load); this module turns the numbers into per-example and corpus scores.
"""

import math

import datasets
import evaluate


class Perplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="exp(total NLL / total tokens) over the set, and exp(nll / tokens) per example.",
            citation="",
            inputs_description="nll: summed negative log-likelihood (nats) per example; "
            "n_tokens: scored tokens (0: left out)",
            features=datasets.Features({"nll": datasets.Value("float64"), "n_tokens": datasets.Value("int64")}),
        )

    def _compute(self, nll, n_tokens):
        # An example with no scored token (its prompt fills the window) has no perplexity: None, left out.
        per_example = [math.exp(x / n) if n > 0 else None for x, n in zip(nll, n_tokens, strict=True)]
        total_tokens = sum(n_tokens)
        corpus = math.exp(sum(nll) / total_tokens) if total_tokens else float("inf")
        return {"perplexity": corpus, "per_example": per_example}
