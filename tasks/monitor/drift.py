"""Drift between a reference window and a current window of traffic, as plain statistics.

    check_drift(reference_embeddings, current_embeddings, reference_outputs=, current_outputs=,
                reference_top1=, current_top1=, policy=DriftPolicy()) -> DriftReport

Up to six sub-tests, each a two-sample test of "the current window comes from the reference's distribution":

| sub-test | data | statistic | p-value |
| --- | --- | --- | --- |
| embedding_classifier | prompt embeddings | ROC AUC of cross-validated logistic regression | permuted within folds |
| embedding_mmd | prompt embeddings | unbiased MMD^2, RBF kernel, median-heuristic bandwidth | labels permuted |
| embedding_novelty | prompt embeddings | distance to the reference of the farthest quarter of the window | permuted |
| output_length | response length (characters) | P(current longer), Mann-Whitney | two-sided, normal approximation |
| output_refusal | share of empty-or-refusal responses | current rate - reference rate | Fisher's exact, two-sided |
| retrieval_top1 | top-1 similarity to the index | P(reference higher), Mann-Whitney | one-sided, normal approximation |

False alarms. With m sub-tests run, each is judged at level alpha / m (Bonferroni), so a window without
drift raises `drifted` with probability at most m * alpha / m = alpha, whatever the dependence between the
sub-tests (the two embedding tests look at the same vectors). The permutation and Fisher p-values are exact
(Fisher's conservatively so); the Mann-Whitney ones are large-sample approximations, fine from the default
`min_samples` of 20 up. The output and retrieval sub-tests must also see a change at least as large as the
policy's minimum; that only removes rejections, so the bound stands. A sub-test without data (no reference
outputs, fewer than `min_samples` rows on a side) is skipped and does not count in m.

Too little data is not "no drift". When either window has fewer than `min_samples` prompts, no sub-test runs
and the report's state is `insufficient_data`, with no verdict: a window of 3 requests, all refused, says
nothing either way.

Why the classifier's threshold comes from permutations. Under no drift a cross-validated AUC is not
distributed like a plain Mann-Whitney AUC: each fold's model is trained on the other folds, so the pooled
out-of-fold scores are dependent. Measured on Gaussian noise, its spread is about 1.35 times the
Mann-Whitney one (0.049 against 0.035 at 200 vs 100 rows, 0.091 against 0.068 at 25 vs 70) and its mean sits
slightly below 0.5, so a Mann-Whitney threshold at 5% fires about 10% of the time. The threshold is
therefore read off the same procedure rerun on relabelled data. Labels are permuted *within* each fold,
which keeps every fold's rows and class counts (the stratification), so each rerun is the identical
procedure applied to an equally likely relabelling. With B permutations, p = (1 + #{null >= observed}) /
(B + 1) gives P(p <= a) <= a exactly, for any sample sizes, balanced or not. The B + 1 logistic regressions
of a fold share their design matrix and are fitted together, one matrix product per iteration for all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tasks.monitor.errors import DriftInputError
from tasks.monitor.report import MAX_TESTS, DriftPolicy, DriftReport, SampleSizes, SubTest
from tasks.monitor.statistics import (
    REFUSAL_PATTERNS,
    PermutationTest,
    classifier_subtest,
    domain_classifier_test,
    fit_logistic_batch,
    is_empty_or_refusal,
    length_test,
    mmd_subtest,
    mmd_test,
    novelty_subtest,
    refusal_test,
    retrieval_test,
)

__all__ = [
    "MAX_TESTS",
    "REFUSAL_PATTERNS",
    "DriftPolicy",
    "DriftReport",
    "PermutationTest",
    "SubTest",
    "check_drift",
    "domain_classifier_test",
    "fit_logistic_batch",
    "is_empty_or_refusal",
    "mmd_test",
]


def _embeddings(name: str, rows) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float64)
    if array.ndim != 2:
        raise DriftInputError(f"{name} must be a 2-D array (rows x dimensions), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise DriftInputError(f"{name} contains NaN or infinite values; drop or re-embed those rows")
    return array


def _similarities(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DriftInputError(f"{name} must be a 1-D array of similarities, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise DriftInputError(f"{name} contains NaN or infinite values")
    return array


def _texts(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise DriftInputError(f"{name} must be a sequence of response strings")
    return list(values)


def _too_few(n_ref: int, n_cur: int, policy: DriftPolicy) -> str | None:
    if min(n_ref, n_cur) < policy.min_samples:
        return f"skipped: {n_ref} reference / {n_cur} current rows, at least {policy.min_samples} needed per side"
    return None


def _why_not(kind: str, reference, current, policy: DriftPolicy) -> str | None:
    """Why a pair of optional inputs cannot be tested, or None when it can."""
    if reference is None or current is None:
        return f"skipped: no {'reference' if reference is None else 'current'} {kind} given"
    return _too_few(len(reference), len(current), policy)


@dataclass(frozen=True)
class _Planned:
    name: str
    description: str
    pair: tuple  # (reference, current) inputs, either may be None
    skip: str | None  # why it cannot run, or None
    run: Callable[[float], SubTest]  # the sub-test at a given level

    def skipped(self) -> SubTest:
        ref, cur = self.pair
        return SubTest(
            name=self.name,
            description=self.description,
            n_reference=len(ref) if ref is not None else 0,
            n_current=len(cur) if cur is not None else 0,
            verdict="skipped",
            note=self.skip or "",
        )


def check_drift(
    reference_embeddings,
    current_embeddings,
    reference_outputs: Sequence[str] | None = None,
    current_outputs: Sequence[str] | None = None,
    reference_top1=None,
    current_top1=None,
    policy: DriftPolicy | None = None,
) -> DriftReport:
    """Compare the current window with the reference; `drifted` is a false alarm with probability <= alpha."""
    policy = policy or DriftPolicy()
    embeddings = (
        _embeddings("reference_embeddings", reference_embeddings),
        _embeddings("current_embeddings", current_embeddings),
    )
    if embeddings[0].shape[1] != embeddings[1].shape[1]:
        raise DriftInputError(
            f"reference embeddings have {embeddings[0].shape[1]} dimensions and current ones "
            f"{embeddings[1].shape[1]}: embed both windows with the same model"
        )
    outputs = (
        None if reference_outputs is None else _texts("reference_outputs", reference_outputs),
        None if current_outputs is None else _texts("current_outputs", current_outputs),
    )
    top1 = (
        None if reference_top1 is None else _similarities("reference_top1", reference_top1),
        None if current_top1 is None else _similarities("current_top1", current_top1),
    )

    n_reference, n_current = len(embeddings[0]), len(embeddings[1])
    if min(n_reference, n_current) < policy.min_samples:
        # Nothing can be said of a handful of requests, not even "no drift": a window of 3 refusals would
        # pass every sub-test that could run on it.
        if n_current < policy.min_samples:
            why = f"the current window has {n_current} requests, fewer than min_samples={policy.min_samples}"
        else:
            why = f"the reference has {n_reference} rows, fewer than min_samples={policy.min_samples}"
        return DriftReport.waiting(
            "insufficient_data",
            f"{why}: no verdict until there is more traffic",
            policy.alpha,
            {"embeddings": SampleSizes(reference=n_reference, current=n_current)},
        )
    classifier_rng, mmd_rng, novelty_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(policy.seed).spawn(3)
    )
    embeddings_skip = _too_few(len(embeddings[0]), len(embeddings[1]), policy)
    outputs_skip = _why_not("outputs", *outputs, policy)
    top1_skip = _why_not("top-1 similarities", *top1, policy)
    planned = [
        _Planned(
            "embedding_classifier",
            "domain classifier ROC AUC",
            embeddings,
            embeddings_skip,
            lambda level: classifier_subtest(*embeddings, level, policy, classifier_rng),
        ),
        _Planned(
            "embedding_mmd",
            "MMD^2, RBF kernel",
            embeddings,
            embeddings_skip,
            lambda level: mmd_subtest(*embeddings, level, policy, mmd_rng),
        ),
        _Planned(
            "embedding_novelty",
            "distance of the farthest current prompts to the reference",
            embeddings,
            embeddings_skip,
            lambda level: novelty_subtest(*embeddings, level, policy, novelty_rng),
        ),
        _Planned(
            "output_length",
            "response length",
            outputs,
            outputs_skip,
            lambda level: length_test(*outputs, level, policy),
        ),
        _Planned(
            "output_refusal",
            "empty-or-refusal rate",
            outputs,
            outputs_skip,
            lambda level: refusal_test(*outputs, level, policy),
        ),
        _Planned(
            "retrieval_top1",
            "top-1 similarity to the index",
            top1,
            top1_skip,
            lambda level: retrieval_test(*top1, level, policy),
        ),
    ]
    runnable = sum(plan.skip is None for plan in planned)
    level = policy.alpha / runnable if runnable else None  # Bonferroni over the sub-tests that run
    tests = [plan.run(level) if plan.skip is None else plan.skipped() for plan in planned]
    reasons = [f"{sub.name}: {sub.note}" for sub in tests if sub.verdict == "drift"]
    sizes = {
        kind: SampleSizes(reference=len(ref), current=len(cur))
        for kind, (ref, cur) in (("embeddings", embeddings), ("outputs", outputs), ("top1", top1))
        if ref is not None and cur is not None
    }
    return DriftReport(
        state="drift" if reasons else "no_drift",
        reasons=reasons,
        alpha=policy.alpha,
        level=level,
        tests=tests,
        sample_sizes=sizes,
    )
