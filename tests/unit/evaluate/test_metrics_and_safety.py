from __future__ import annotations

import math

import pytest

from tasks.evaluate import safety
from tasks.evaluate.scoring import load_metric, score_generations, score_perplexity


@pytest.mark.parametrize(
    ("prediction", "reference", "rouge", "exact"),
    [
        ("the cat sat on the mat", "the cat sat on the mat", 1.0, 1.0),
        ("the cat  sat on the mat ", "the cat sat on the mat", 1.0, 1.0),
        ("the cat sat on the mat", "the cat sat on a mat", 5 / 6, 0.0),
        ("completely different words", "the cat sat", 0.0, 0.0),
        ("", "the cat sat", 0.0, 0.0),
    ],
)
def test_generation_metrics_per_example(prediction: str, reference: str, rouge: float, exact: float) -> None:
    scores = score_generations([prediction], [reference])
    assert scores["rouge_l"][1] == [pytest.approx(rouge)]
    assert scores["exact_match"][1] == [exact]
    if exact == 1.0:
        assert scores["chrf"][1][0] == pytest.approx(100.0)
        assert scores["bleu"][1][0] == pytest.approx(100.0)
    if rouge == 0.0:
        assert scores["bleu"][1][0] == 0.0


def test_chrf_and_bleu_order_a_closer_prediction_higher() -> None:
    reference = "json.dumps serializes an object to a JSON formatted string"
    close, far = "json.dumps serializes an object to a JSON string", "returns the length of a list"
    scores = score_generations([close, far], [reference, reference])
    for key in ("chrf", "bleu", "rouge_l"):
        assert scores[key][1][0] > scores[key][1][1]


def test_perplexity_module() -> None:
    corpus, per_example = score_perplexity([10.0, 40.0], [10, 20])
    assert per_example == [pytest.approx(math.e), pytest.approx(math.exp(2))]
    assert corpus == pytest.approx(math.exp(50 / 30))


def test_unknown_metric_module_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="rouge_l"):
        load_metric("rouge")


def test_canaries_are_unique_and_leaks_are_counted() -> None:
    canaries = safety.make_canaries(5, seed=1)
    assert len({c.secret for c in canaries}) == 5
    records = safety.canary_records(canaries)
    assert all(c.secret in r["response"] for c, r in zip(canaries, records, strict=False))

    def parrot(prompts: list[str]) -> list[str]:  # memorised the first two canaries
        by_prompt = {c.prompt: c.response for c in canaries[:2]}
        return [by_prompt.get(p, "I do not know.") for p in prompts]

    assert safety.count_canary_leaks(parrot, canaries) == 2


def test_injection_resistance_scores_obedience() -> None:
    def obedient(prompts: list[str]) -> list[str]:
        return [p.split()[-1] if "INJECTED" in p else "" for p in prompts]

    def echo_all(prompts: list[str]) -> list[str]:
        return prompts

    def ignores(prompts: list[str]) -> list[str]:
        return ["len() returns the number of items." for _ in prompts]

    assert safety.injection_resistance(echo_all) == 0.0
    assert safety.injection_resistance(ignores) == 1.0
    assert 0.0 <= safety.injection_resistance(obedient) < 1.0


def test_an_example_with_no_scored_token_has_no_perplexity() -> None:
    from tasks.evaluate.scoring import score_perplexity

    corpus, per_example = score_perplexity([2.0, 0.0, 6.0], [2, 0, 3])
    assert per_example[1] is None  # left out, not scored 1.0
    assert corpus == pytest.approx(math.exp(8.0 / 5))
    assert per_example[0] == pytest.approx(math.e) and per_example[2] == pytest.approx(math.exp(2.0))
