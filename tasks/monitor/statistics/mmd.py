"""Maximum mean discrepancy of two embedding windows: unbiased MMD^2, RBF kernel, permutation null."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tasks.monitor.report import DriftPolicy, SubTest
from tasks.monitor.statistics.common import PermutationTest, one_blas_thread, subsample


@dataclass(frozen=True)
class MMDTest(PermutationTest):
    bandwidth: float


def _squared_distances(rows: np.ndarray) -> np.ndarray:
    norms = np.einsum("ij,ij->i", rows, rows)
    return np.maximum(norms[:, None] + norms[None, :] - 2 * rows @ rows.T, 0.0)


@one_blas_thread
def mmd_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    permutations: int = 199,
    max_per_side: int | None = None,
    seed: int | np.random.Generator = 0,
) -> MMDTest:
    """Unbiased MMD^2 with k(x, y) = exp(-|x - y|^2 / (2 h^2)), h^2 = median pairwise squared distance of
    both windows pooled, and its permutation null; all permutations in one kernel-matrix product."""
    rng = np.random.default_rng(seed)
    reference = subsample(np.asarray(reference, dtype=np.float64), max_per_side, rng)
    current = subsample(np.asarray(current, dtype=np.float64), max_per_side, rng)
    n, m = len(reference), len(current)
    sq = _squared_distances(np.vstack([reference, current]))
    h2 = float(np.median(sq[np.triu_indices(n + m, k=1)]))
    h2 = h2 if h2 > 0 else 1.0  # every row identical: any bandwidth gives MMD^2 = 0
    kernel = np.exp(-sq / (2 * h2))

    # Column b of `is_ref` marks the rows labelled reference in labelling b (column 0: the real one).
    is_ref = np.zeros((n + m, permutations + 1))
    is_ref[:n, 0] = 1.0
    chosen = rng.random((permutations, n + m)).argsort(axis=1)[:, :n]
    is_ref[chosen, np.arange(1, permutations + 1)[:, None]] = 1.0
    k_ref = kernel @ is_ref
    within_ref = np.sum(is_ref * k_ref, axis=0)  # sum over ref x ref pairs, diagonal included
    row_sums = kernel.sum(axis=1)
    between = row_sums @ is_ref - within_ref  # sum over ref x cur pairs
    within_cur = row_sums.sum() - 2 * between - within_ref  # sum over cur x cur pairs, diagonal included
    # K(x, x) = 1 on the diagonal: drop it from the within sums for the unbiased estimate.
    mmd2 = (within_ref - n) / (n * (n - 1)) + (within_cur - m) / (m * (m - 1)) - 2 * between / (n * m)
    return MMDTest(statistic=float(mmd2[0]), null=mmd2[1:], bandwidth=math.sqrt(h2))


def mmd_subtest(
    reference: np.ndarray, current: np.ndarray, level: float, policy: DriftPolicy, rng: np.random.Generator
) -> SubTest:
    limit = policy.mmd_subsample
    result = mmd_test(reference, current, permutations=policy.permutations, max_per_side=limit, seed=rng)
    critical = result.critical_value(level)
    return result.subtest(
        "embedding_mmd",
        f"unbiased MMD^2, RBF kernel with median-heuristic bandwidth; {policy.permutations} permutations",
        level,
        (min(len(reference), limit), min(len(current), limit)),
        {"bandwidth": result.bandwidth},
        f"MMD^2 {result.statistic:.3g} against {critical:.3g} at level {level:.3g}, p={result.p_value:.3g}",
    )
