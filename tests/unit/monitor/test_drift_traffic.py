"""The drift check on traffic written by hand: people's Python questions, phrased unlike the training prompts.

tests/data/drift/python_traffic.jsonl has 400 questions on 16 established topics and 200 on 8 new topics of
the same domain (asyncio, sqlite3, struct, ...), written for these tests (its README says how). Each trial
draws a reference window of 200 requests (the default `reference_requests`) and a current window of 100,
disjoint, from the established questions, so a trial without a shift is exactly exchangeable; a shifted
trial replaces a share of the current window with questions of the new topics.

The reference the check used before, a sample of the champion's training prompts, is kept here as the case
it fails: on the same traffic it fires almost every time.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from tasks.monitor.drift import DriftPolicy, check_drift
from tests.unit.monitor.traffic import drift_trials, python_traffic, training_prompts

N_REFERENCE, N_CURRENT = 200, 100  # the default reference_requests; an hour of traffic
NO_SHIFT_TRIALS, SHIFT_TRIALS = 120, 40


@pytest.fixture(scope="module")
def embedded():
    from tasks.services.embedding import embed

    traffic = python_traffic()
    assert len(traffic.established) == 400 and len(traffic.new) == 200
    return embed(traffic.established), embed(traffic.new)


def _upper_95(hits: int, trials: int) -> float:
    return 1.0 if hits == trials else float(beta.ppf(0.95, hits + 1, trials - hits))


def test_traffic_reference_keeps_the_false_alarm_rate_at_alpha(embedded):
    established, new = embedded
    rng = np.random.default_rng(11)
    reports = drift_trials(
        established, new, rng, NO_SHIFT_TRIALS, n_reference=N_REFERENCE, n_current=N_CURRENT, shift=0.0
    )
    assert all(r.state in ("drift", "no_drift") and r.tests_run == 3 for r in reports)
    alarms = sum(r.drifted for r in reports)
    print(
        f"\ntraffic reference, {N_REFERENCE} vs {N_CURRENT} hand-written in-domain questions: {alarms} false alarms "
        f"in {NO_SHIFT_TRIALS} trials ({alarms / NO_SHIFT_TRIALS:.1%}, 95% upper bound "
        f"{_upper_95(alarms, NO_SHIFT_TRIALS):.1%}) at alpha 0.05"
    )
    # Binomial(120, 0.05) exceeds 12 with probability below 1%: more would mean the level does not hold.
    assert alarms <= 12


def test_training_prompts_as_reference_fire_on_the_same_traffic(embedded):
    """The reference before this change: every hour of ordinary questions looked like drift, and retrained."""
    from tasks.services.embedding import embed

    established, _ = embedded
    prompts = embed(list(training_prompts(500)))
    rng = np.random.default_rng(12)
    alarms = 0
    for i in range(20):
        reference = prompts[rng.choice(len(prompts), size=N_REFERENCE, replace=False)]
        current = established[rng.choice(len(established), size=N_CURRENT, replace=False)]
        alarms += check_drift(reference, current, policy=DriftPolicy(seed=i)).drifted
    print(f"\ntraining-prompt reference on the same traffic: {alarms} alarms in 20 trials")
    assert alarms >= 18


@pytest.mark.parametrize(("shift", "least"), [(0.3, 0.8)])
def test_a_shift_to_new_topics_within_the_domain_is_found(embedded, shift, least):
    established, new = embedded
    rng = np.random.default_rng(13)
    reports = drift_trials(
        established, new, rng, SHIFT_TRIALS, n_reference=N_REFERENCE, n_current=N_CURRENT, shift=shift
    )
    power = float(np.mean([r.drifted for r in reports]))
    print(f"\n{shift:.0%} of the window on new topics: found in {power:.0%} of {SHIFT_TRIALS} trials")
    assert power >= least
