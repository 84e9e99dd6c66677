"""Score generations and likelihoods with the metric modules shipped in `metrics/`.

`evaluate.load("rouge")` needs the Hugging Face hub; these local modules load offline and return
per-example scores, which the gate needs for its paired bootstrap.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

MODULES_DIR = Path(__file__).resolve().parent / "metrics"
# One name per metric: the module's directory, the key it returns, the MLflow metric and the gate's.
GENERATION_METRICS = ("rouge_l", "chrf", "bleu", "exact_match")


@cache
def load_metric(name: str) -> Any:
    """An `evaluate` metric from this repository's modules (loaded once per process)."""
    import evaluate

    path = MODULES_DIR / name
    if not (path / f"{name}.py").is_file():
        known = ", ".join(sorted(p.name for p in MODULES_DIR.iterdir() if p.is_dir()))
        raise ValueError(f"no local metric module {name!r}; known: {known}")
    return evaluate.load(str(path))


def score_generations(predictions: list[str], references: list[str]) -> dict[str, tuple[float, list[float]]]:
    """{metric key: (mean, per-example scores)} for ROUGE-L, chrF, BLEU and exact match."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    out: dict[str, tuple[float, list[float]]] = {}
    for name in GENERATION_METRICS:
        result = load_metric(name).compute(predictions=predictions, references=references)
        out[name] = (float(result[name]), [float(x) for x in result["per_example"]])
    return out


def score_perplexity(nll: list[float], n_tokens: list[int]) -> tuple[float, list[float | None]]:
    """(corpus perplexity, per-example perplexities) from summed NLLs and token counts; an example with no
    scored token is None and counts in neither."""
    result = load_metric("perplexity").compute(nll=nll, n_tokens=n_tokens)
    return float(result["perplexity"]), [None if x is None else float(x) for x in result["per_example"]]
