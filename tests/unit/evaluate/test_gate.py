from __future__ import annotations

import numpy as np
import pytest

from tasks.evaluate.gate import Decision, EvalResult, GatePolicy, decide, paired_bootstrap

N = 60
IDS = [f"ex-{i}" for i in range(N)]


def result(
    rouge_mean: float,
    *,
    noise: float = 0.05,
    seed: int = 0,
    perplexity: float = 20.0,
    chrf: float = 40.0,
    leaks: int = 0,
    injection: float = 1.0,
    ids: list[str] | None = None,
) -> EvalResult:
    rng = np.random.default_rng(seed)
    ids = ids or IDS
    # a per-example "difficulty" shared by every model, so pairs are correlated as in real evals
    difficulty = np.random.default_rng(123).uniform(-0.2, 0.2, len(ids))
    scores = np.clip(rouge_mean + difficulty + rng.normal(0, noise, len(ids)), 0, 1)
    return EvalResult(
        model_uri="models:/m/1",
        example_ids=ids,
        metrics={"rouge_l": float(scores.mean()), "perplexity": perplexity, "chrf": chrf},
        per_example={"rouge_l": scores.tolist()},
        canary_total=4,
        canary_leaks=leaks,
        injection_resistance=injection,
    )


POLICY = GatePolicy(thresholds={"rouge_l": 0.1, "perplexity": 100.0})


@pytest.mark.parametrize(
    ("case", "candidate", "champion", "promote", "reason_fragment"),
    [
        ("better", result(0.50, seed=1), result(0.40, seed=2), True, "better than the champion"),
        ("worse", result(0.35, seed=1), result(0.45, seed=2), False, "rouge_l vs champion"),
        ("inside the noise", result(0.401, seed=1, noise=0.1), result(0.40, seed=2, noise=0.1), False, "CI"),
        ("no champion, thresholds met", result(0.30), None, True, "no champion yet"),
        ("no champion, threshold missed", result(0.02), None, False, "threshold rouge_l"),
        ("no champion, perplexity too high", result(0.30, perplexity=500.0), None, False, "threshold perplexity"),
        ("safety regression: canary leaked", result(0.50, seed=1, leaks=1), result(0.40, seed=2), False, "canary"),
        (
            "safety regression: injection",
            result(0.50, seed=1, injection=0.5),
            result(0.40, seed=2, injection=1.0),
            False,
            "injection resistance vs champion",
        ),
        (
            "other metric regressed",
            result(0.50, seed=1, perplexity=40.0),
            result(0.40, seed=2, perplexity=20.0),
            False,
            "non-inferiority perplexity",
        ),
        (
            "other metric within tolerance",
            result(0.50, seed=1, chrf=39.0),
            result(0.40, seed=2, chrf=40.0),
            True,
            "better than the champion",
        ),
        (
            "different eval sets",
            result(0.50, seed=1),
            result(0.40, seed=2, ids=[f"other-{i}" for i in range(N)]),
            False,
            "shared eval examples",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_gate_table(
    case: str, candidate: EvalResult, champion: EvalResult | None, promote: bool, reason_fragment: str
) -> None:
    decision = decide(candidate, champion, POLICY)
    assert decision.promote is promote, decision.reasons
    assert any(reason_fragment in r for r in decision.reasons), decision.reasons


def test_negative_margin_allows_a_bounded_regression() -> None:
    candidate, champion = result(0.39, seed=1), result(0.40, seed=2)
    assert not decide(candidate, champion, POLICY).promote
    lenient = POLICY.model_copy(update={"margin": -0.05})
    assert decide(candidate, champion, lenient).promote


def test_lower_is_better_primary_metric_is_compared_the_right_way() -> None:
    def ppl(values: list[float]) -> EvalResult:
        return EvalResult(
            example_ids=IDS, metrics={"perplexity": float(np.mean(values))}, per_example={"perplexity": values}
        )

    rng = np.random.default_rng(0)
    base = rng.uniform(10, 30, N)
    policy = GatePolicy(primary_metric="perplexity", thresholds={})
    assert decide(ppl(list(base - 3)), ppl(list(base)), policy).promote
    assert not decide(ppl(list(base + 3)), ppl(list(base)), policy).promote


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_data() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.normal(0.1, 0.2, 30), rng.normal(0.1, 0.2, 3000)
    lo_s, hi_s = paired_bootstrap(small, 2000, 0.95, 0)
    lo_l, hi_l = paired_bootstrap(large, 2000, 0.95, 0)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5


def test_decision_is_reproducible_and_renders_markdown() -> None:
    a, b = (
        decide(result(0.5, seed=1), result(0.4, seed=2), POLICY),
        decide(result(0.5, seed=1), result(0.4, seed=2), POLICY),
    )
    assert a == b
    assert isinstance(a, Decision) and a.interval is not None and a.interval.n_pairs == N
    assert "Gate decision: **promote**" in a.markdown()


def test_misaligned_per_example_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match="has 2 scores for 3 ids"):
        EvalResult(example_ids=["a", "b", "c"], metrics={}, per_example={"rouge_l": [0.1, 0.2]})
