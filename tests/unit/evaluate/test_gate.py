"""The gate as a pure function: a table of cases, every input defect, and the defaults against real models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.evaluate.gate import Decision, EvalResult, GateInputError, GatePolicy, decide, paired_bootstrap

N = 60
IDS = [f"ex-{i}" for i in range(N)]


def result(
    rouge_mean: float,
    *,
    noise: float = 0.05,
    seed: int = 0,
    perplexity: float = 20.0,
    chrf: float = 40.0,
    exact: float = 0.1,
    leaks: int = 0,
    injection: float | None = 1.0,
    ids: list[str] | None = None,
) -> EvalResult:
    rng = np.random.default_rng(seed)
    ids = ids or IDS
    n = len(ids)
    # a per-example "difficulty" shared by every model, so pairs are correlated as in real evals
    difficulty = np.random.default_rng(123).uniform(-0.2, 0.2, n)
    rouge = np.clip(rouge_mean + difficulty + rng.normal(0, noise, n), 0, 1)
    ppl = perplexity * np.exp(np.random.default_rng(7).normal(0, 0.3, n) + rng.normal(0, 0.05, n))
    chrf_scores = np.clip(chrf + 100 * difficulty + rng.normal(0, 2, n), 0, 100)
    exact_scores = (np.random.default_rng(11).uniform(0, 1, n) < exact).astype(float)
    return EvalResult(
        model_uri="models:/m/1",
        example_ids=ids,
        metrics={
            "rouge_l": float(rouge.mean()),
            "perplexity": float(np.exp(np.log(ppl).mean())),
            "chrf": float(chrf_scores.mean()),
            "exact_match": float(exact_scores.mean()),
            "bleu": 10.0,
        },
        per_example={
            "rouge_l": rouge.tolist(),
            "perplexity": ppl.tolist(),
            "chrf": chrf_scores.tolist(),
            "exact_match": exact_scores.tolist(),
        },
        canary_total=4,
        canary_leaks=leaks,
        injection_resistance=injection,
    )


# The champion comparisons on their own (the base-model check has its own tests below).
POLICY = GatePolicy(
    thresholds={"rouge_l": 0.1, "perplexity": 100.0},
    beat_base=False,
    guards={"perplexity": 0.25, "chrf": 5.0, "exact_match": 0.15},
)


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
            result(0.50, seed=1, injection=0.7),
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
            "other metric within its margin",
            result(0.50, seed=1, chrf=39.0),
            result(0.40, seed=2, chrf=40.0),
            True,
            "better than the champion",
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


def test_one_lost_exact_match_in_24_does_not_block_a_clearly_better_model() -> None:
    """+0.20 ROUGE-L on every example, exact match 1/24 -> 0: the guard's bootstrap margin lets it through
    (a 5% tolerance on the aggregates blocked it)."""
    ids = [f"q{i}" for i in range(24)]
    base_scores = np.linspace(0.2, 0.5, 24)
    champion = EvalResult(
        example_ids=ids,
        metrics={"rouge_l": float(base_scores.mean()), "exact_match": 1 / 24},
        per_example={"rouge_l": base_scores.tolist(), "exact_match": [1.0] + [0.0] * 23},
        injection_resistance=1.0,
    )
    candidate = EvalResult(
        example_ids=ids,
        metrics={"rouge_l": float(base_scores.mean() + 0.2), "exact_match": 0.0},
        per_example={"rouge_l": (base_scores + 0.2).tolist(), "exact_match": [0.0] * 24},
        injection_resistance=1.0,
    )
    policy = GatePolicy(thresholds={}, beat_base=False, guards={"exact_match": 0.15})
    decision = decide(candidate, champion, policy)
    assert decision.promote, decision.reasons
    guard = next(c for c in decision.checks if c.name.startswith("non-inferiority exact_match"))
    assert guard.passed and "over 24 pairs" in guard.detail
    # a real drop in exact match is not within the margin
    worse = candidate.model_copy(update={"per_example": {**candidate.per_example, "exact_match": [0.0] * 24}})
    better_champion = champion.model_copy(
        update={"per_example": {**champion.per_example, "exact_match": [1.0] * 12 + [0.0] * 12}}
    )
    assert not decide(worse, better_champion, policy).promote


def test_the_candidate_must_beat_its_base_model() -> None:
    policy = GatePolicy(thresholds={"rouge_l": 0.1})
    assert decide(result(0.5, seed=1), None, policy, baseline=result(0.05, seed=3)).promote
    same = decide(result(0.3, seed=1), None, policy, baseline=result(0.3, seed=3))
    assert not same.promote and any("rouge_l vs base model" in r for r in same.reasons)
    missing = decide(result(0.5, seed=1), None, policy)
    assert not missing.promote and any("no evaluation of the base model" in r for r in missing.reasons)


@pytest.mark.parametrize(
    ("defect", "candidate", "champion", "message"),
    [
        (
            "missing primary metric",
            result(0.5).model_copy(update={"metrics": {"perplexity": 20.0}}),
            None,
            "lacks the metric",
        ),
        (
            "missing threshold metric",
            result(0.5).model_copy(update={"metrics": {"rouge_l": 0.5}}),
            None,
            "lacks the metric",
        ),
        (
            "missing per-example primary scores",
            result(0.5).model_copy(update={"per_example": {}}),
            None,
            "no per-example 'rouge_l'",
        ),
        ("missing injection resistance", result(0.5, injection=None), None, "no injection resistance"),
        (
            "different example ids",
            result(0.5, seed=1),
            result(0.4, ids=[f"other-{i}" for i in range(N)]),
            "different examples",
        ),
        ("repeated example ids", result(0.5, ids=["a"] * N), None, "repeats eval example ids"),
        (
            "guard metric missing on the champion",
            result(0.5, seed=1),
            result(0.4).model_copy(update={"metrics": {"rouge_l": 0.4, "perplexity": 20.0}}),
            "guard metric",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v and len(v) < 40 else None,
)
def test_malformed_inputs_are_rejected(
    defect: str, candidate: EvalResult, champion: EvalResult | None, message: str
) -> None:
    with pytest.raises(GateInputError, match=message):
        decide(candidate, champion, POLICY)


def test_examples_without_a_score_are_left_out_of_the_pairs() -> None:
    candidate, champion = result(0.5, seed=1), result(0.4, seed=2)
    ppl = list(candidate.per_example["perplexity"])
    ppl[0] = None  # no scored token: not a perplexity of 1.0, not a pair
    candidate = candidate.model_copy(update={"per_example": {**candidate.per_example, "perplexity": ppl}})
    decision = decide(candidate, champion, POLICY)
    guard = next(i for i in decision.intervals if i.metric == "perplexity")
    assert guard.n_pairs == N - 1


def test_negative_margin_allows_a_bounded_regression() -> None:
    candidate, champion = result(0.39, seed=1), result(0.40, seed=2)
    assert not decide(candidate, champion, POLICY).promote
    lenient = POLICY.model_copy(update={"margin": -0.05})
    assert decide(candidate, champion, lenient).promote


def test_lower_is_better_primary_metric_is_compared_the_right_way() -> None:
    def ppl(values: list[float]) -> EvalResult:
        return EvalResult(
            example_ids=IDS,
            metrics={"perplexity": float(np.mean(values))},
            per_example={"perplexity": values},
            injection_resistance=1.0,
        )

    rng = np.random.default_rng(0)
    base = rng.uniform(10, 30, N)
    policy = GatePolicy(primary_metric="perplexity", thresholds={}, guards={}, beat_base=False)
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


def test_default_floors_mean_something() -> None:
    """A random model scores ROUGE-L about 0 and perplexity about its vocabulary: the default floors reject it."""
    policy = GatePolicy()
    assert policy.thresholds["rouge_l"] > 0.05 and policy.thresholds["perplexity"] < 1000
    assert policy.min_injection_resistance > 0 and policy.beat_base
    random_like = result(0.01, noise=0.01, perplexity=2048.0)
    decision = decide(random_like, None, policy, baseline=result(0.01, noise=0.01, seed=5, perplexity=2048.0))
    failed = {c.name for c in decision.checks if not c.passed}
    assert {"threshold rouge_l", "threshold perplexity"} <= failed
    assert math.isfinite(decision.intervals[0].lower)
