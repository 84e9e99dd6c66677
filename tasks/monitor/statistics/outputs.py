"""The model's outputs: response length (Mann-Whitney) and the empty-or-refusal rate (Fisher's exact)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy import stats

from tasks.monitor.report import DriftPolicy, SubTest
from tasks.monitor.statistics.common import finite_p

# Openings of a response that declines; matched case-insensitively in its first 300 characters.
REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:'t|not)|won't|will not|am unable|'m unable)",
    r"\bI (?:can(?:'t|not)|won't|will not|am unable to|'m unable to|am not able to|'m not able to) "
    r"(?:help|assist|comply|provide|answer|share|do that|fulfil)",
    r"\bI(?:'m| am) not (?:allowed|permitted) to\b",
    r"\bas an AI(?: language model| assistant)?,? I\b",
    r"\b(?:this|that|your) request (?:violates|goes against)\b",
)
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)


def is_empty_or_refusal(text: str) -> bool:
    """True for a blank response or one that opens by declining to answer."""
    head = text.strip()[:300].replace("\u2019", "'")
    return not head or _REFUSAL.search(head) is not None


def length_test(reference: Sequence[str], current: Sequence[str], level: float, policy: DriftPolicy) -> SubTest:
    ref = np.array([len(t.strip()) for t in reference], dtype=float)
    cur = np.array([len(t.strip()) for t in current], dtype=float)
    result = stats.mannwhitneyu(cur, ref, alternative="two-sided")
    p = finite_p(result.pvalue)
    # Relative to at least one character, so an all-empty reference gives a finite change.
    change = (cur.mean() - ref.mean()) / max(ref.mean(), 1.0)
    drift = p <= level and abs(change) >= policy.length_change
    return SubTest(
        name="output_length",
        description="response length in characters, Mann-Whitney U (two-sided); statistic: the chance that a "
        "current response is longer than a reference one (0.5: no shift)",
        statistic=float(result.statistic) / (ref.size * cur.size),
        p_value=p,
        level=level,
        change=float(change),
        min_change=policy.length_change,
        n_reference=ref.size,
        n_current=cur.size,
        verdict="drift" if drift else "no_drift",
        values={
            "reference_mean": float(ref.mean()),
            "current_mean": float(cur.mean()),
            "reference_median": float(np.median(ref)),
            "current_median": float(np.median(cur)),
        },
        note=f"mean length {ref.mean():.0f} -> {cur.mean():.0f} characters ({change:+.1%}), "
        f"median {np.median(ref):.0f} -> {np.median(cur):.0f}, p={p:.3g}",
    )


def refusal_test(reference: Sequence[str], current: Sequence[str], level: float, policy: DriftPolicy) -> SubTest:
    ref_hits = sum(map(is_empty_or_refusal, reference))
    cur_hits = sum(map(is_empty_or_refusal, current))
    table = [[ref_hits, len(reference) - ref_hits], [cur_hits, len(current) - cur_hits]]
    result = stats.fisher_exact(table, alternative="two-sided")
    ref_rate, cur_rate = ref_hits / len(reference), cur_hits / len(current)
    change = cur_rate - ref_rate
    drift = result.pvalue <= level and abs(change) >= policy.refusal_rate_change
    return SubTest(
        name="output_refusal",
        description="share of empty-or-refusal responses, Fisher's exact test (two-sided); statistic: current "
        "rate minus reference rate",
        statistic=change,
        p_value=float(result.pvalue),
        level=level,
        change=change,
        min_change=policy.refusal_rate_change,
        n_reference=len(reference),
        n_current=len(current),
        verdict="drift" if drift else "no_drift",
        values={"reference_rate": ref_rate, "current_rate": cur_rate},
        note=f"empty-or-refusal rate {ref_rate:.1%} -> {cur_rate:.1%} ({change * 100:+.1f} points), "
        f"p={result.pvalue:.3g}",
    )
