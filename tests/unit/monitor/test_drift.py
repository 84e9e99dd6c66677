"""Drift statistics on synthetic data: each sub-test's behaviour, its calibration, and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression

from tasks.monitor.drift import (
    DriftPolicy,
    PermutationTest,
    check_drift,
    domain_classifier_test,
    fit_logistic_batch,
    is_empty_or_refusal,
    mmd_test,
)
from tasks.monitor.errors import DriftInputError

DIM = 24


def gaussian(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    rows = rng.normal(size=(n, DIM))
    rows[:, 0] += shift
    return rows


def answers(rng: np.random.Generator, n: int, refusal_rate: float, words: int = 40) -> list[str]:
    out = []
    for _ in range(n):
        if rng.random() < refusal_rate:
            out.append("I'm sorry, but I can't help with that.")
        else:
            out.append(" ".join(["token"] * int(rng.integers(words // 2, words * 3 // 2))))
    return out


# --- policy ----------------------------------------------------------------------------------------


def test_policy_defaults_allow_p_values_below_alpha_over_six():
    policy = DriftPolicy()
    assert 1 / (policy.permutations + 1) <= policy.alpha / 6


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"permutations": 50}, "use at least 119"),
        ({"alpha": 0.01, "permutations": 399}, "use at least 599"),
        ({"min_samples": 3, "classifier_folds": 5}, "every fold needs a row of each window"),
        ({"alpha": 0.0}, "greater than 0"),
    ],
)
def test_policy_rejects_settings_that_cannot_work(fields, message):
    with pytest.raises(ValidationError, match=message):
        DriftPolicy(**fields)


# --- permutation p-values and thresholds -------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "level", "p", "rejects"),
    [
        (0.95, 0.05, 1 / 20, True),  # above all 19 null values: the smallest p there is
        (0.87, 0.05, 2 / 20, False),  # one null value (0.9) above it
        (0.87, 0.10, 2 / 20, True),
        (0.90, 0.10, 2 / 20, True),  # a tie counts against the observed value
        (0.10, 0.50, 18 / 20, False),
    ],
)
def test_permutation_p_value_and_critical_value_agree(observed, level, p, rejects):
    null = np.arange(19) / 20  # 0.0, 0.05, ..., 0.9
    test = PermutationTest(statistic=observed, null=null)
    assert test.p_value == pytest.approx(p)
    assert test.rejects(level) is rejects
    assert (test.p_value <= level + 1e-12) is rejects
    assert (observed > test.critical_value(level)) is rejects


def test_critical_value_is_the_upper_quantile_of_the_null():
    test = PermutationTest(statistic=0.0, null=np.arange(1, 200) / 200)  # 0.005 ... 0.995
    # 199 permutations, level 0.01: reject only above the 2nd largest null value.
    assert test.critical_value(0.01) == pytest.approx(0.990)
    assert test.critical_value(0.001) == np.inf


# --- domain classifier ------------------------------------------------------------------------------


def test_batched_logistic_regression_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 6))
    labels = np.stack([(x[:, j] + rng.normal(size=150) > 0).astype(float) for j in range(3)], axis=1)
    weights = fit_logistic_batch(x, labels, c=0.5, tol=1e-9)
    for j in range(3):
        reference = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(x, labels[:, j])
        np.testing.assert_allclose(weights[1:, j], reference.coef_[0], atol=1e-5)
        assert weights[0, j] == pytest.approx(reference.intercept_[0], abs=1e-5)


def test_classifier_auc_is_about_one_half_without_drift():
    rng = np.random.default_rng(1)
    result = domain_classifier_test(gaussian(rng, 200), gaussian(rng, 200), permutations=99, seed=1)
    assert abs(result.statistic - 0.5) < 0.07
    assert result.p_value > 0.05
    assert abs(result.null.mean() - 0.5) < 0.03


def test_classifier_auc_is_near_one_on_separable_windows():
    rng = np.random.default_rng(2)
    result = domain_classifier_test(gaussian(rng, 150), gaussian(rng, 60, shift=4.0), permutations=99, seed=2)
    assert result.statistic > 0.97
    assert result.p_value == pytest.approx(1 / 100)
    assert result.rejects(0.01)


def test_classifier_false_alarms_stay_at_the_level_for_small_unequal_windows():
    """25 against 70 rows, 300 no-drift trials: the permutation threshold holds the level."""
    rng = np.random.default_rng(3)
    level, trials = 0.10, 300
    rejections = sum(
        domain_classifier_test(gaussian(rng, 25), gaussian(rng, 70), permutations=19, folds=5, seed=i).rejects(level)
        for i in range(trials)
    )
    # Binomial(300, 0.1): sd 1.7 points; allow 3 sd above the level.
    assert rejections / trials <= level + 3 * np.sqrt(level * (1 - level) / trials)


# --- MMD ----------------------------------------------------------------------------------------------


def test_mmd_matches_the_unbiased_estimate_computed_pair_by_pair():
    rng = np.random.default_rng(4)
    x, y = gaussian(rng, 12), gaussian(rng, 9, shift=1.0)
    result = mmd_test(x, y, permutations=19, seed=0)
    h2 = result.bandwidth**2

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * h2))

    xx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (12 * 11)
    yy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (9 * 8)
    xy = sum(k(a, b) for a in x for b in y) / (12 * 9)
    assert result.statistic == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def test_mmd_p_value_is_large_for_identical_distributions():
    p_values = [
        mmd_test(
            gaussian(np.random.default_rng(s), 150),
            gaussian(np.random.default_rng(s + 100), 100),
            permutations=199,
            seed=s,
        ).p_value
        for s in range(5)
    ]
    assert np.mean(p_values) > 0.2
    assert min(p_values) > 0.01


def test_mmd_p_value_is_tiny_for_shifted_distributions():
    rng = np.random.default_rng(5)
    result = mmd_test(gaussian(rng, 150), gaussian(rng, 100, shift=1.0), permutations=199, seed=0)
    assert result.p_value == pytest.approx(1 / 200)
    assert result.statistic > result.critical_value(0.01) > 0


# --- outputs and retrieval ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("   \n", True),
        ("I'm sorry, but I can't help with that.", True),
        ("I\u2019m sorry, but I cannot assist with this request.", True),
        ("I cannot provide instructions for that.", True),
        ("As an AI language model, I don't have opinions.", True),
        ("I am not allowed to share that information.", True),
        ("Use json.dumps(obj, indent=2) to pretty-print.", False),
        ("Sorry for the confusion earlier: the function is os.path.join.", False),
        ("You cannot call len() on a generator; wrap it in list() first.", False),
    ],
)
def test_refusal_detector(text, expected):
    assert is_empty_or_refusal(text) is expected


def test_refusal_rate_jump_is_drift():
    rng = np.random.default_rng(6)
    emb = gaussian(rng, 200)
    report = check_drift(
        emb[:100], emb[100:], reference_outputs=answers(rng, 300, 0.02), current_outputs=answers(rng, 200, 0.20)
    )
    refusal = report.test("output_refusal")
    assert refusal.verdict == "drift"
    assert refusal.change == pytest.approx(refusal.values["current_rate"] - refusal.values["reference_rate"])
    assert refusal.change > 0.1
    assert report.drifted
    assert any(reason.startswith("output_refusal:") for reason in report.reasons)


def test_longer_responses_are_drift_and_same_lengths_are_not():
    rng = np.random.default_rng(7)
    emb = gaussian(rng, 200)
    longer = check_drift(
        emb[:100],
        emb[100:],
        reference_outputs=answers(rng, 200, 0.0, words=20),
        current_outputs=answers(rng, 200, 0.0, words=40),
    )
    assert longer.test("output_length").verdict == "drift"
    assert longer.test("output_length").change == pytest.approx(1.0, abs=0.15)
    assert longer.test("output_length").statistic > 0.8  # most current responses are longer
    same = check_drift(
        emb[:100],
        emb[100:],
        reference_outputs=answers(rng, 200, 0.0, words=20),
        current_outputs=answers(rng, 200, 0.0, words=20),
    )
    assert same.test("output_length").verdict == "no_drift"


def test_a_significant_change_below_the_minimum_is_not_drift():
    rng = np.random.default_rng(8)
    emb = gaussian(rng, 200)
    reference = answers(rng, 5000, 0.0, words=100)
    current = [text + " token token token token token" for text in answers(rng, 5000, 0.0, words=100)]  # +5%
    report = check_drift(emb[:100], emb[100:], reference_outputs=reference, current_outputs=current)
    length = report.test("output_length")
    assert length.p_value < length.level
    assert abs(length.change) < DriftPolicy().length_change
    assert length.verdict == "no_drift"


def test_retrieval_drop_is_drift_but_a_rise_is_not():
    rng = np.random.default_rng(9)
    emb = gaussian(rng, 200)
    reference = rng.normal(0.70, 0.08, 300)
    drop = check_drift(emb[:100], emb[100:], reference_top1=reference, current_top1=rng.normal(0.60, 0.08, 150))
    assert drop.test("retrieval_top1").verdict == "drift"
    assert drop.test("retrieval_top1").change == pytest.approx(0.10, abs=0.03)
    assert 0.7 < drop.test("retrieval_top1").statistic < 0.9  # P(reference > current) for a 1.25 sd shift: 0.81
    rise = check_drift(emb[:100], emb[100:], reference_top1=reference, current_top1=rng.normal(0.80, 0.08, 150))
    assert rise.test("retrieval_top1").verdict == "no_drift"
    assert not rise.drifted


def test_a_small_retrieval_drop_is_not_drift():
    rng = np.random.default_rng(10)
    emb = gaussian(rng, 200)
    report = check_drift(
        emb[:100], emb[100:], reference_top1=rng.normal(0.70, 0.05, 5000), current_top1=rng.normal(0.68, 0.05, 5000)
    )
    retrieval = report.test("retrieval_top1")
    assert retrieval.p_value < 1e-6 and retrieval.verdict == "no_drift"


# --- the check and its report ------------------------------------------------------------------------


def full_report(shift: float = 0.0):
    rng = np.random.default_rng(11)
    return check_drift(
        gaussian(rng, 200),
        gaussian(rng, 100, shift=shift),
        reference_outputs=answers(rng, 200, 0.03),
        current_outputs=answers(rng, 100, 0.03),
        reference_top1=rng.normal(0.7, 0.05, 200),
        current_top1=rng.normal(0.7, 0.05, 100),
    )


def test_each_sub_test_runs_at_alpha_over_the_number_run():
    report = full_report()
    assert [t.name for t in report.tests] == [
        "embedding_classifier",
        "embedding_mmd",
        "embedding_novelty",
        "output_length",
        "output_refusal",
        "retrieval_top1",
    ]
    assert report.tests_run == 6
    assert report.level == pytest.approx(0.05 / 6)
    assert all(t.level == pytest.approx(0.05 / 6) for t in report.tests)
    assert report.sample_sizes["embeddings"].reference == 200 and report.sample_sizes["top1"].current == 100


def test_no_drift_on_same_distribution_and_drift_on_a_shift():
    calm = full_report()
    assert not calm.drifted and calm.reasons == []
    shifted = full_report(shift=1.0)
    assert shifted.drifted
    assert (calm.state_name, shifted.state_name) == ("NoDrift", "Drift")
    assert {r.split(":")[0] for r in shifted.reasons} == {"embedding_classifier", "embedding_mmd"}
    classifier = shifted.test("embedding_classifier")
    assert classifier.statistic > classifier.critical_value > 0.5


def test_missing_inputs_are_skipped_and_not_counted():
    rng = np.random.default_rng(12)
    report = check_drift(
        gaussian(rng, 100),
        gaussian(rng, 50),
        current_outputs=["fine"] * 50,
        reference_top1=rng.random(100),
        current_top1=rng.random(50),
    )
    verdicts = {t.name: t.verdict for t in report.tests}
    assert verdicts["output_length"] == verdicts["output_refusal"] == "skipped"
    assert "no reference outputs" in report.test("output_length").note
    assert report.tests_run == 4 and report.level == pytest.approx(0.05 / 4)


def test_a_window_below_the_minimum_is_insufficient_data_not_no_drift():
    rng = np.random.default_rng(13)
    report = check_drift(gaussian(rng, 100), gaussian(rng, 10))
    assert report.state == "insufficient_data" and not report.drifted and report.tests == []
    assert "current window has 10 requests, fewer than min_samples=20" in report.reasons[0]
    assert "insufficient data" in report.markdown() and report.summary()["state"] == "insufficient_data"


def test_three_requests_all_refused_are_insufficient_data():
    """The case from the issue: 3 requests, 100% refusals, used to be reported as "no drift"."""
    rng = np.random.default_rng(15)
    report = check_drift(
        gaussian(rng, 100),
        gaussian(rng, 3),
        reference_outputs=answers(rng, 100, refusal_rate=0.02),
        current_outputs=["I'm sorry, but I can't help with that."] * 3,
    )
    assert report.state == "insufficient_data" and not report.drifted


def test_a_small_reference_is_insufficient_data():
    rng = np.random.default_rng(16)
    report = check_drift(gaussian(rng, 12), gaussian(rng, 80))
    assert report.state == "insufficient_data" and "reference has 12 rows" in report.reasons[0]


def test_a_subtest_skipped_for_size_still_leaves_the_others():
    rng = np.random.default_rng(17)
    report = check_drift(
        gaussian(rng, 100),
        gaussian(rng, 40),
        reference_outputs=answers(rng, 10, refusal_rate=0.0),
        current_outputs=answers(rng, 40, refusal_rate=0.0),
    )
    assert report.state in ("drift", "no_drift") and report.tests_run == 3
    assert "at least 20 needed" in report.test("output_length").note


def test_large_windows_are_subsampled():
    rng = np.random.default_rng(14)
    policy = DriftPolicy(classifier_max_samples=300, mmd_subsample=200)
    report = check_drift(gaussian(rng, 3000), gaussian(rng, 2500), policy=policy)
    classifier = report.test("embedding_classifier")
    assert (classifier.n_reference, classifier.n_current) == (300, 300)
    assert (report.test("embedding_mmd").n_reference, report.test("embedding_mmd").n_current) == (200, 200)
    assert report.sample_sizes["embeddings"].reference == 3000


def test_the_check_is_reproducible_from_the_seed():
    assert full_report(shift=0.3).model_dump() == full_report(shift=0.3).model_dump()


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        (np.zeros((30, 4)), np.zeros((30, 5)), "same model"),
        (np.zeros(30), np.zeros((30, 4)), "2-D array"),
        (np.full((30, 4), np.nan), np.zeros((30, 4)), "NaN"),
    ],
)
def test_malformed_embeddings_are_refused(reference, current, message):
    with pytest.raises(DriftInputError, match=message):
        check_drift(reference, current)


def test_malformed_outputs_and_similarities_are_refused():
    emb = np.zeros((30, 4))
    with pytest.raises(DriftInputError, match="sequence of response strings"):
        check_drift(emb, emb, reference_outputs="one string", current_outputs=["a"])
    with pytest.raises(DriftInputError, match="NaN"):
        check_drift(emb, emb, reference_top1=[0.5, float("nan")], current_top1=[0.5])


def test_summary_is_small_and_json_ready():
    report = full_report(shift=1.0)
    summary = report.summary()
    payload = json.dumps(summary)
    assert len(payload) < 1500
    assert summary["drifted"] is True
    assert set(summary["tests"]) == {t.name for t in report.tests}
    assert summary["tests"]["embedding_mmd"]["verdict"] == "drift"
    assert summary["sizes"] == {"embeddings": [200, 100], "outputs": [200, 100], "top1": [200, 100]}


def test_markdown_shows_verdict_reasons_and_one_row_per_sub_test():
    report = full_report(shift=1.0)
    text = report.markdown()
    assert text.startswith("# Drift check: **DRIFT DETECTED**")
    for reason in report.reasons:
        assert f"- {reason}" in text
    for sub in report.tests:
        assert f"| {sub.name} | {sub.statistic:.4g} | {sub.p_value:.4g} |" in text
    assert "alpha / 6 = 0.008333 (Bonferroni)" in text
    assert full_report().markdown().startswith("# Drift check: **no drift**")


def test_report_round_trips_through_json():
    report = full_report(shift=1.0)
    assert type(report).model_validate_json(report.model_dump_json()) == report


# --- novelty ---------------------------------------------------------------------------------------


def _topics(rng: np.random.Generator, centres: np.ndarray, n: int, spread: float = 0.08) -> np.ndarray:
    """Embedding-like rows: unit vectors scattered around topic centres."""
    rows = centres[rng.integers(len(centres), size=n)] + spread * rng.normal(size=(n, centres.shape[1]))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_novelty_sees_new_topics_in_a_share_of_the_window():
    """A fifth of the current rows about topics the reference never had: the tail statistic rejects."""
    from tasks.monitor.statistics import novelty_test

    rng = np.random.default_rng(21)
    centres = rng.normal(size=(10, DIM)) / np.sqrt(DIM)
    reference, current = _topics(rng, centres[:8], 150), _topics(rng, centres[:8], 100)
    shifted = np.vstack([_topics(rng, centres[8:], 20), current[20:]])
    assert novelty_test(reference, shifted, permutations=199, seed=0).rejects(0.01)
    assert not novelty_test(reference, current, permutations=199, seed=0).rejects(0.01)


def test_novelty_null_is_calibrated_on_exchangeable_windows():
    from tasks.monitor.statistics import novelty_test

    rng = np.random.default_rng(22)
    rejections = sum(
        novelty_test(gaussian(rng, 60), gaussian(rng, 40), permutations=39, seed=i).rejects(0.1) for i in range(200)
    )
    # Binomial(200, 0.1): mean 20, sd 4.2; the test is exact, so more than 33 would be a bug
    assert rejections <= 33
