"""The overall drift decision on real text embeddings: false alarms at most alpha on windows without drift,
and 30% out-of-domain prompts found at least 80% of the time.

Each trial draws an hourly-sized window pair (200 reference, 100 current prompts) without replacement from
one pool of Python-documentation questions, with responses and top-1 similarities from one distribution too,
so a no-drift trial is exactly exchangeable. A drift trial swaps 30 of the current prompts (and their top-1
similarities) for cooking, travel and sports questions; responses keep their distribution, so only the
embedding and retrieval sub-tests can see the change.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.stats import beta

from tasks.monitor.drift import DriftPolicy, check_drift, domain_classifier_test
from tests.unit.monitor.prompt_pools import REFUSALS, python_answers

N_REFERENCE, N_CURRENT = 200, 100
NO_DRIFT_TRIALS, DRIFT_TRIALS = 150, 50
OUT_OF_DOMAIN_SHARE = 0.3
REFUSAL_RATE = 0.04  # the same in both windows: a deployed assistant declines a few requests every hour


@functools.cache
def _answers() -> list[str]:
    return python_answers(600, seed=2)


def _responses(rng: np.random.Generator, n: int) -> list[str]:
    answers = _answers()
    refuse = rng.random(n) < REFUSAL_RATE
    return [REFUSALS[rng.integers(len(REFUSALS))] if r else answers[rng.integers(len(answers))] for r in refuse]


def _trial(pools, rng: np.random.Generator, drift: bool, policy: DriftPolicy):
    drawn = rng.choice(len(pools.queries), size=N_REFERENCE + N_CURRENT, replace=False)
    ref, cur = drawn[:N_REFERENCE], drawn[N_REFERENCE:]
    current, current_top1 = pools.queries[cur], pools.query_top1[cur]
    if drift:
        k = int(OUT_OF_DOMAIN_SHARE * N_CURRENT)
        ood = rng.choice(len(pools.out_of_domain), size=k, replace=False)
        current = np.vstack([pools.out_of_domain[ood], current[k:]])
        current_top1 = np.r_[pools.out_of_domain_top1[ood], current_top1[k:]]
    return check_drift(
        pools.queries[ref],
        current,
        reference_outputs=_responses(rng, N_REFERENCE),
        current_outputs=_responses(rng, N_CURRENT),
        reference_top1=pools.query_top1[ref],
        current_top1=current_top1,
        policy=policy,
    )


def _rates(reports) -> dict[str, float]:
    rates = {"overall": float(np.mean([r.drifted for r in reports]))}
    for name in [t.name for t in reports[0].tests]:
        rates[name] = float(np.mean([r.test(name).verdict == "drift" for r in reports]))
    return rates


def _upper_95(hits: int, trials: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound of a rate."""
    return 1.0 if hits == trials else float(beta.ppf(0.95, hits + 1, trials - hits))


def test_false_alarm_rate_and_detection_on_real_embeddings(embedded_pools):
    rng = np.random.default_rng(2024)
    no_drift = [_trial(embedded_pools, rng, False, DriftPolicy(seed=i)) for i in range(NO_DRIFT_TRIALS)]
    drift = [_trial(embedded_pools, rng, True, DriftPolicy(seed=i)) for i in range(DRIFT_TRIALS)]

    assert all(r.tests_run == 6 and r.level == pytest.approx(0.05 / 6) for r in no_drift + drift)
    fpr, detection = _rates(no_drift), _rates(drift)
    alarms = sum(r.drifted for r in no_drift)
    print(
        f"\n{N_REFERENCE} reference vs {N_CURRENT} current prompts, alpha=0.05 (each of 6 sub-tests at 0.0083)"
        f"\nfalse-positive rate over {NO_DRIFT_TRIALS} no-drift trials: {fpr['overall']:.1%} "
        f"(95% upper bound {_upper_95(alarms, NO_DRIFT_TRIALS):.1%}); per sub-test "
        + ", ".join(f"{k} {v:.1%}" for k, v in fpr.items() if k != "overall")
        + f"\ndetection rate over {DRIFT_TRIALS} trials with {OUT_OF_DOMAIN_SHARE:.0%} out-of-domain prompts: "
        f"{detection['overall']:.1%}; per sub-test "
        + ", ".join(f"{k} {v:.1%}" for k, v in detection.items() if k != "overall")
    )
    assert fpr["overall"] <= 0.05
    assert detection["overall"] >= 0.80
    # The embedding sub-tests must find the drift by themselves, not only through the retrieval scores.
    embedding_detection = np.mean(
        [
            any(
                r.test(name).verdict == "drift"
                for name in ("embedding_classifier", "embedding_mmd", "embedding_novelty")
            )
            for r in drift
        ]
    )
    assert embedding_detection >= 0.80
    # The responses did not change: the output sub-tests stay quiet on drift trials too.
    assert detection["output_length"] <= 0.05 and detection["output_refusal"] <= 0.05


def test_classifier_threshold_holds_for_small_unequal_windows_of_real_embeddings(embedded_pools):
    """30 against 90 prompts, either way round: the within-fold permutation null keeps the level.

    19 permutations suffice here: the test is exact for any number (level 0.1 = 2 of 20), more only add power.
    """
    rng = np.random.default_rng(7)
    level, trials = 0.10, 200
    rates = {}
    for n_ref, n_cur in ((30, 90), (90, 30)):
        rejections = 0
        for i in range(trials):
            drawn = rng.choice(len(embedded_pools.queries), size=n_ref + n_cur, replace=False)
            rows = embedded_pools.queries[drawn]
            rejections += domain_classifier_test(rows[:n_ref], rows[n_ref:], permutations=19, seed=i).rejects(level)
        rates[(n_ref, n_cur)] = rejections / trials
    print(
        "\nclassifier false-positive rate at level 0.10 over 200 no-drift trials: "
        + ", ".join(f"{r} vs {c} prompts {v:.1%}" for (r, c), v in rates.items())
    )
    # Binomial(200, 0.1): sd 2.1 points; allow 3 sd above the level.
    assert all(rate <= level + 3 * np.sqrt(level * (1 - level) / trials) for rate in rates.values())
