"""Domain classifier: cross-validated ROC AUC of a logistic regression telling current from reference
embeddings, with a permutation null (labels shuffled within folds, all relabellings fitted together)."""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import expit

from tasks.monitor.report import DriftPolicy, SubTest
from tasks.monitor.statistics.common import PermutationTest, one_blas_thread, subsample


def _whitened_components(pooled: np.ndarray, components: int) -> np.ndarray:
    """Principal-component scores of both windows pooled, each scaled to unit variance.

    The projection ignores the window labels, so every relabelling sees the same features.
    """
    centred = pooled - pooled.mean(axis=0)
    # Eigenvectors of the smaller Gram matrix: cheaper than an SVD of the full rows x dimensions matrix.
    if centred.shape[0] <= centred.shape[1]:
        eigenvalues, vectors = np.linalg.eigh(centred @ centred.T)
        scores = vectors[:, ::-1]
    else:
        eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)
        scores = centred @ vectors[:, ::-1]
    eigenvalues = eigenvalues[::-1]
    keep = min(components, int(np.sum(eigenvalues > eigenvalues[0] * 1e-10)))
    scores = scores[:, :keep]
    return scores / scores.std(axis=0)


def _stratified_folds(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    fold = np.empty(labels.size, dtype=np.int64)
    for cls in (0.0, 1.0):
        members = np.flatnonzero(labels == cls)
        fold[rng.permutation(members)] = np.arange(members.size) % folds
    return fold


def fit_logistic_batch(
    features: np.ndarray, labels: np.ndarray, c: float, *, tol: float = 1e-6, max_iter: int = 2000
) -> np.ndarray:
    """L2 logistic regressions (sklearn's objective with inverse strength `c`, intercept unpenalised) for
    every column of `labels` (n x B, 0/1) on the same `features` (n x d); returns (d + 1) x B, intercept first.

    Minorise-maximise steps with Böhning's fixed curvature bound X'X/4: one d x d inverse per design, then
    each iteration is two matrix products for all columns; each column stops once its step is below `tol`.
    """
    n, d = features.shape
    design = np.hstack([np.ones((n, 1)), features])
    penalty = np.full(d + 1, 1.0 / c)
    penalty[0] = 0.0
    inverse_bound = np.linalg.inv(design.T @ design / 4 + np.diag(penalty))
    weights = np.zeros((d + 1, labels.shape[1]))
    active = np.arange(labels.shape[1])
    for _ in range(max_iter):
        w = weights[:, active]
        gradient = design.T @ (labels[:, active] - expit(design @ w)) - penalty[:, None] * w
        step = inverse_bound @ gradient
        weights[:, active] = w + step
        active = active[np.abs(step).max(axis=0) >= tol]
        if active.size == 0:
            break
    return weights


def _auc_per_column(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC of every column (ties count one half), from the rank sum of the positives."""
    ranks = stats.rankdata(scores, axis=0)
    n_pos = labels[:, 0].sum()
    n_neg = labels.shape[0] - n_pos
    return ((ranks * labels).sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@one_blas_thread
def domain_classifier_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    folds: int = 5,
    permutations: int = 199,
    components: int = 16,
    c: float = 1.0,
    max_per_side: int | None = None,
    seed: int | np.random.Generator = 0,
) -> PermutationTest:
    """Cross-validated ROC AUC of a logistic regression telling current (1) from reference (0) rows,
    with its permutation null (labels shuffled within each fold)."""
    rng = np.random.default_rng(seed)
    reference = subsample(np.asarray(reference, dtype=np.float64), max_per_side, rng)
    current = subsample(np.asarray(current, dtype=np.float64), max_per_side, rng)
    features = _whitened_components(np.vstack([reference, current]), components)
    observed = np.r_[np.zeros(len(reference)), np.ones(len(current))]
    fold = _stratified_folds(observed, folds, rng)

    labels = np.empty((observed.size, permutations + 1))
    labels[:, 0] = observed
    for k in range(folds):
        members = np.flatnonzero(fold == k)
        shuffles = rng.random((permutations, members.size)).argsort(axis=1)
        labels[members, 1:] = observed[members][shuffles].T

    scores = np.empty_like(labels)
    for k in range(folds):
        held_out = fold == k
        weights = fit_logistic_batch(features[~held_out], labels[~held_out], c)
        scores[held_out] = weights[0] + features[held_out] @ weights[1:]
    auc = _auc_per_column(scores, labels)
    return PermutationTest(statistic=float(auc[0]), null=auc[1:])


def classifier_subtest(
    reference: np.ndarray, current: np.ndarray, level: float, policy: DriftPolicy, rng: np.random.Generator
) -> SubTest:
    limit = policy.classifier_max_samples
    result = domain_classifier_test(
        reference,
        current,
        folds=policy.classifier_folds,
        permutations=policy.permutations,
        components=policy.classifier_components,
        c=policy.classifier_c,
        max_per_side=limit,
        seed=rng,
    )
    critical = result.critical_value(level)
    return result.subtest(
        "embedding_classifier",
        f"ROC AUC of {policy.classifier_folds}-fold cross-validated logistic regression, "
        f"current vs reference prompts; {policy.permutations} within-fold label permutations",
        level,
        (min(len(reference), limit), min(len(current), limit)),
        {"null_mean": float(result.null.mean()), "null_std": float(result.null.std())},
        f"AUC {result.statistic:.3f} against {critical:.3f} at level {level:.3g} "
        f"(permutation null mean {result.null.mean():.3f}), p={result.p_value:.3g}",
    )
