"""What the statistics share: permutation tests and their critical values, subsampling, one BLAS thread."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from tasks.monitor.report import SubTest


@dataclass(frozen=True)
class PermutationTest:
    """An observed statistic and the same statistic on relabelled data; large values mean drift."""

    statistic: float
    null: np.ndarray

    @property
    def p_value(self) -> float:
        return (1 + int(np.sum(self.null >= self.statistic))) / (self.null.size + 1)

    def _rank(self, level: float) -> int:
        # p <= level  <=>  #{null >= observed} <= floor(level * (B + 1)) - 1; the epsilon absorbs 0.01 * 200 = 1.99..
        return math.floor(level * (self.null.size + 1) + 1e-9)

    def critical_value(self, level: float) -> float:
        """The statistic must exceed this to reject at `level`: the floor(level*(B+1))-th largest null value."""
        k = self._rank(level)
        return math.inf if k < 1 else float(np.sort(self.null)[self.null.size - k])

    def rejects(self, level: float) -> bool:
        return int(np.sum(self.null >= self.statistic)) <= self._rank(level) - 1

    def subtest(
        self, name: str, description: str, level: float, sizes: tuple[int, int], values: dict[str, float], note: str
    ) -> SubTest:
        """This test's outcome at `level` as a report row; `sizes` are the rows used per side."""
        return SubTest(
            name=name,
            description=description,
            statistic=self.statistic,
            p_value=self.p_value,
            level=level,
            critical_value=self.critical_value(level),
            n_reference=sizes[0],
            n_current=sizes[1],
            verdict="drift" if self.rejects(level) else "no_drift",
            values=values,
            note=note,
        )


# The products below are small (a few thousand rows by a few hundred columns): BLAS threads cost more than
# they save, and on a shared host they spin-wait for cores (5-10x slower measured on 2 busy cores).
one_blas_thread = threadpool_limits.wrap(limits=1, user_api="blas")


def subsample(rows: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    if limit is None or len(rows) <= limit:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=limit, replace=False))]


def finite_p(p: float) -> float:
    # Mann-Whitney on two constant samples has no variance and answers NaN: nothing differs.
    return float(p) if np.isfinite(p) else 1.0
