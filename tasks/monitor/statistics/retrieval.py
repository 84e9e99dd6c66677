"""Retrieval: top-1 similarity of queries to the index, current lower than reference (Mann-Whitney)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from tasks.monitor.report import DriftPolicy, SubTest
from tasks.monitor.statistics.common import finite_p


def retrieval_test(reference: np.ndarray, current: np.ndarray, level: float, policy: DriftPolicy) -> SubTest:
    result = stats.mannwhitneyu(reference, current, alternative="greater")
    p = finite_p(result.pvalue)
    drop = float(reference.mean() - current.mean())
    drift = p <= level and drop >= policy.top1_drop
    return SubTest(
        name="retrieval_top1",
        description="top-1 similarity to the index, Mann-Whitney U (one-sided: current lower); statistic: the "
        "chance that a reference similarity exceeds a current one (0.5: no shift)",
        statistic=float(result.statistic) / (reference.size * current.size),
        p_value=p,
        level=level,
        change=drop,
        min_change=policy.top1_drop,
        n_reference=reference.size,
        n_current=current.size,
        verdict="drift" if drift else "no_drift",
        values={"reference_mean": float(reference.mean()), "current_mean": float(current.mean())},
        note=f"mean top-1 similarity {reference.mean():.3f} -> {current.mean():.3f} (drop {drop:+.3f}), p={p:.3g}",
    )
