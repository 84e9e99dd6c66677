"""Drift between a reference window and a current window of traffic, as plain statistics.

    check_drift(reference_embeddings, current_embeddings, reference_outputs=, current_outputs=,
                reference_top1=, current_top1=, policy=DriftPolicy()) -> DriftReport

Up to five sub-tests, each a two-sample test of "the current window comes from the reference's distribution":

| sub-test | data | statistic | p-value |
| --- | --- | --- | --- |
| embedding_classifier | prompt embeddings | ROC AUC of cross-validated logistic regression | labels permuted within folds |
| embedding_mmd | prompt embeddings | unbiased MMD^2, RBF kernel, median-heuristic bandwidth | labels permuted |
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

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator
from scipy import stats
from scipy.special import expit
from threadpoolctl import threadpool_limits

from tasks.monitoring.errors import DriftInputError

# The most sub-tests one check can run; the policy must allow p-values small enough for alpha / MAX_TESTS.
MAX_TESTS = 5

Verdict = Literal["drift", "no_drift", "skipped"]


class DriftPolicy(BaseModel):
    """How the drift check decides: significance, test sizes, and the smallest changes worth an alarm."""

    alpha: float = Field(
        0.05, gt=0, le=0.5,
        description="Overall false-alarm rate on windows without drift; each of the m sub-tests runs at alpha / m.",
    )
    permutations: int = Field(
        199, ge=19, le=100_000,
        description="Label permutations for the classifier and MMD nulls (p-values are multiples of 1 / (this + 1)).",
    )
    classifier_folds: int = Field(5, ge=2, le=20, description="Stratified cross-validation folds of the classifier.")
    classifier_components: int = Field(
        16, ge=2, le=1024, description="Principal components (of both windows pooled) the domain classifier sees.",
    )
    classifier_c: float = Field(
        1.0, gt=0, le=1e4, description="Inverse L2 strength of the logistic regression (sklearn's C), whitened inputs.",
    )
    classifier_max_samples: int = Field(
        2000, ge=10, le=1_000_000, description="Rows per side the classifier uses; larger windows are subsampled.",
    )
    mmd_subsample: int = Field(
        1000, ge=10, le=20_000, description="Rows per side MMD uses; its kernel matrix grows with the square of this.",
    )
    min_samples: int = Field(20, ge=2, description="A sub-test with fewer rows than this on either side is skipped.")
    length_change: float = Field(
        0.25, ge=0, le=100, description="Smallest relative change of the mean response length that counts as drift.",
    )
    refusal_rate_change: float = Field(
        0.05, ge=0, le=1, description="Smallest absolute change of the empty-or-refusal rate that counts as drift.",
    )
    top1_drop: float = Field(
        0.05, ge=0, le=2, description="Smallest drop of the mean top-1 similarity that counts as retrieval drift.",
    )
    seed: int = Field(0, ge=0, description="Seed of the subsampling, fold assignment and permutations.")

    @model_validator(mode="after")
    def _consistent(self) -> DriftPolicy:
        smallest_level = self.alpha / MAX_TESTS
        if math.floor(smallest_level * (self.permutations + 1) + 1e-9) < 1:
            need = math.ceil(MAX_TESTS / self.alpha) - 1
            raise ValueError(
                f"permutations={self.permutations} cannot give a p-value <= alpha/{MAX_TESTS}={smallest_level:.4g}; "
                f"use at least {need}"
            )
        if self.min_samples < self.classifier_folds:
            raise ValueError(
                f"min_samples={self.min_samples} is below classifier_folds={self.classifier_folds}: "
                "every fold needs a row of each window"
            )
        return self


class SubTest(BaseModel):
    """One sub-test's outcome."""

    name: str
    description: str
    statistic: float | None = Field(None, description="The test statistic (see `description`); None if skipped.")
    p_value: float | None = None
    level: float | None = Field(None, description="Level this sub-test is judged at: alpha / number of sub-tests run.")
    critical_value: float | None = Field(
        None, description="Statistic above which the sub-test rejects at `level` (permutation tests only).",
    )
    change: float | None = Field(None, description="Size of the change, in the unit of `min_change`.")
    min_change: float | None = Field(None, description="Smallest change that counts as drift (practical significance).")
    n_reference: int = Field(0, description="Reference rows the sub-test used (after subsampling).")
    n_current: int = Field(0, description="Current rows the sub-test used (after subsampling).")
    values: dict[str, float] = Field(default_factory=dict, description="Descriptive statistics of both windows.")
    verdict: Verdict
    note: str = Field("", description="One line on what was seen, or why the sub-test was skipped.")


class SampleSizes(BaseModel):
    reference: int
    current: int


class DriftReport(BaseModel):
    """The drift check's decision, with every sub-test behind it."""

    drifted: bool
    reasons: list[str] = Field(description="One line per sub-test that found drift; empty when none did.")
    alpha: float
    level: float | None = Field(None, description="Per-sub-test level: alpha / tests run (Bonferroni); None: none ran.")
    tests: list[SubTest]
    sample_sizes: dict[str, SampleSizes] = Field(description="Rows given per input: embeddings, outputs, top1.")

    def test(self, name: str) -> SubTest:
        for sub in self.tests:
            if sub.name == name:
                return sub
        raise KeyError(name)

    @property
    def tests_run(self) -> int:
        return sum(sub.verdict != "skipped" for sub in self.tests)

    def summary(self) -> dict:
        """A few hundred bytes of JSON-ready values, for an event payload."""
        return {
            "drifted": self.drifted,
            "reasons": self.reasons,
            "alpha": self.alpha,
            "level": _round(self.level),
            "tests": {
                sub.name: {"verdict": sub.verdict, "statistic": _round(sub.statistic), "p_value": _round(sub.p_value)}
                for sub in self.tests
            },
            "sizes": {kind: [size.reference, size.current] for kind, size in self.sample_sizes.items()},
        }

    def markdown(self) -> str:
        """The report as a Markdown artifact: verdict, reasons, one table row per sub-test."""
        headline = "**DRIFT DETECTED**" if self.drifted else "**no drift**"
        lines = [f"# Drift check: {headline}", ""]
        lines += [f"- {reason}" for reason in self.reasons] or ["- every sub-test is within its bounds"]
        sizes = ", ".join(f"{kind} {n.reference} reference / {n.current} current"
                          for kind, n in self.sample_sizes.items())
        lines += ["", f"Rows: {sizes}.", ""]
        lines += [
            "| sub-test | statistic | p-value | level | critical value | change | min change | n ref / cur | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for sub in self.tests:
            lines.append(
                f"| {sub.name} | {_fmt(sub.statistic)} | {_fmt(sub.p_value)} | {_fmt(sub.level)} | "
                f"{_fmt(sub.critical_value)} | {_fmt(sub.change)} | {_fmt(sub.min_change)} | "
                f"{sub.n_reference} / {sub.n_current} | {sub.verdict} |"
            )
        lines += ["", "| sub-test | what | note |", "|---|---|---|"]
        lines += [f"| {sub.name} | {sub.description} | {sub.note} |" for sub in self.tests]
        if self.level is not None:
            lines += [
                "",
                f"Each of the {self.tests_run} sub-tests run is judged at alpha / {self.tests_run} = {self.level:.4g} "
                f"(Bonferroni), so a window without drift is flagged with probability at most alpha = {self.alpha:g}.",
            ]
        return "\n".join(lines) + "\n"


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


# --- permutation tests on embeddings ------------------------------------------------------------


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


@dataclass(frozen=True)
class MMDTest(PermutationTest):
    bandwidth: float


# The products below are small (a few thousand rows by a few hundred columns): BLAS threads cost more than
# they save, and on a shared host they spin-wait for cores (5-10x slower measured on 2 busy cores).
_one_blas_thread = threadpool_limits.wrap(limits=1, user_api="blas")


def _subsample(rows: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    if limit is None or len(rows) <= limit:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=limit, replace=False))]


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


def fit_logistic_batch(features: np.ndarray, labels: np.ndarray, c: float, *, tol: float = 1e-6,
                       max_iter: int = 2000) -> np.ndarray:
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


@_one_blas_thread
def domain_classifier_test(reference: np.ndarray, current: np.ndarray, *, folds: int = 5, permutations: int = 199,
                           components: int = 16, c: float = 1.0, max_per_side: int | None = None,
                           seed: int | np.random.Generator = 0) -> PermutationTest:
    """Cross-validated ROC AUC of a logistic regression telling current (1) from reference (0) rows,
    with its permutation null (labels shuffled within each fold)."""
    rng = np.random.default_rng(seed)
    reference = _subsample(np.asarray(reference, dtype=np.float64), max_per_side, rng)
    current = _subsample(np.asarray(current, dtype=np.float64), max_per_side, rng)
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


def _squared_distances(rows: np.ndarray) -> np.ndarray:
    norms = np.einsum("ij,ij->i", rows, rows)
    return np.maximum(norms[:, None] + norms[None, :] - 2 * rows @ rows.T, 0.0)


@_one_blas_thread
def mmd_test(reference: np.ndarray, current: np.ndarray, *, permutations: int = 199, max_per_side: int | None = None,
             seed: int | np.random.Generator = 0) -> MMDTest:
    """Unbiased MMD^2 with k(x, y) = exp(-|x - y|^2 / (2 h^2)), h^2 = median pairwise squared distance of
    both windows pooled, and its permutation null; all permutations in one kernel-matrix product."""
    rng = np.random.default_rng(seed)
    reference = _subsample(np.asarray(reference, dtype=np.float64), max_per_side, rng)
    current = _subsample(np.asarray(current, dtype=np.float64), max_per_side, rng)
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
    within_ref = np.sum(is_ref * k_ref, axis=0)               # sum over ref x ref pairs, diagonal included
    row_sums = kernel.sum(axis=1)
    between = row_sums @ is_ref - within_ref                    # sum over ref x cur pairs
    within_cur = row_sums.sum() - 2 * between - within_ref      # sum over cur x cur pairs, diagonal included
    # K(x, x) = 1 on the diagonal: drop it from the within sums for the unbiased estimate.
    mmd2 = (within_ref - n) / (n * (n - 1)) + (within_cur - m) / (m * (m - 1)) - 2 * between / (n * m)
    return MMDTest(statistic=float(mmd2[0]), null=mmd2[1:], bandwidth=math.sqrt(h2))


# --- outputs and retrieval ---------------------------------------------------------------------------

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


def _finite(p: float) -> float:
    # Mann-Whitney on two constant samples has no variance and answers NaN: nothing differs.
    return float(p) if np.isfinite(p) else 1.0


def _length_test(reference: Sequence[str], current: Sequence[str], level: float, policy: DriftPolicy) -> SubTest:
    ref = np.array([len(t.strip()) for t in reference], dtype=float)
    cur = np.array([len(t.strip()) for t in current], dtype=float)
    result = stats.mannwhitneyu(cur, ref, alternative="two-sided")
    p = _finite(result.pvalue)
    # Relative to at least one character, so an all-empty reference gives a finite change.
    change = (cur.mean() - ref.mean()) / max(ref.mean(), 1.0)
    drift = p <= level and abs(change) >= policy.length_change
    return SubTest(
        name="output_length",
        description="response length in characters, Mann-Whitney U (two-sided); statistic: the chance that a "
                    "current response is longer than a reference one (0.5: no shift)",
        statistic=float(result.statistic) / (ref.size * cur.size), p_value=p, level=level, change=float(change),
        min_change=policy.length_change,
        n_reference=ref.size, n_current=cur.size, verdict="drift" if drift else "no_drift",
        values={"reference_mean": float(ref.mean()), "current_mean": float(cur.mean()),
                "reference_median": float(np.median(ref)), "current_median": float(np.median(cur))},
        note=f"mean length {ref.mean():.0f} -> {cur.mean():.0f} characters ({change:+.1%}), "
             f"median {np.median(ref):.0f} -> {np.median(cur):.0f}, p={p:.3g}",
    )


def _refusal_test(reference: Sequence[str], current: Sequence[str], level: float, policy: DriftPolicy) -> SubTest:
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
        statistic=change, p_value=float(result.pvalue), level=level, change=change,
        min_change=policy.refusal_rate_change, n_reference=len(reference), n_current=len(current),
        verdict="drift" if drift else "no_drift",
        values={"reference_rate": ref_rate, "current_rate": cur_rate},
        note=f"empty-or-refusal rate {ref_rate:.1%} -> {cur_rate:.1%} ({change * 100:+.1f} points), "
             f"p={result.pvalue:.3g}",
    )


def _retrieval_test(reference: np.ndarray, current: np.ndarray, level: float, policy: DriftPolicy) -> SubTest:
    result = stats.mannwhitneyu(reference, current, alternative="greater")
    p = _finite(result.pvalue)
    drop = float(reference.mean() - current.mean())
    drift = p <= level and drop >= policy.top1_drop
    return SubTest(
        name="retrieval_top1",
        description="top-1 similarity to the index, Mann-Whitney U (one-sided: current lower); statistic: the "
                    "chance that a reference similarity exceeds a current one (0.5: no shift)",
        statistic=float(result.statistic) / (reference.size * current.size), p_value=p, level=level, change=drop,
        min_change=policy.top1_drop,
        n_reference=reference.size, n_current=current.size, verdict="drift" if drift else "no_drift",
        values={"reference_mean": float(reference.mean()), "current_mean": float(current.mean())},
        note=f"mean top-1 similarity {reference.mean():.3f} -> {current.mean():.3f} (drop {drop:+.3f}), p={p:.3g}",
    )


def _classifier_subtest(reference: np.ndarray, current: np.ndarray, level: float, policy: DriftPolicy,
                        rng: np.random.Generator) -> SubTest:
    limit = policy.classifier_max_samples
    result = domain_classifier_test(
        reference, current, folds=policy.classifier_folds, permutations=policy.permutations,
        components=policy.classifier_components, c=policy.classifier_c, max_per_side=limit, seed=rng,
    )
    critical = result.critical_value(level)
    return SubTest(
        name="embedding_classifier",
        description=f"ROC AUC of {policy.classifier_folds}-fold cross-validated logistic regression, "
                    f"current vs reference prompts; {policy.permutations} within-fold label permutations",
        statistic=result.statistic, p_value=result.p_value, level=level, critical_value=critical,
        n_reference=min(len(reference), limit), n_current=min(len(current), limit),
        verdict="drift" if result.rejects(level) else "no_drift",
        values={"null_mean": float(result.null.mean()), "null_std": float(result.null.std())},
        note=f"AUC {result.statistic:.3f} against {critical:.3f} at level {level:.3g} "
             f"(permutation null mean {result.null.mean():.3f}), p={result.p_value:.3g}",
    )


def _mmd_subtest(reference: np.ndarray, current: np.ndarray, level: float, policy: DriftPolicy,
                 rng: np.random.Generator) -> SubTest:
    limit = policy.mmd_subsample
    result = mmd_test(reference, current, permutations=policy.permutations, max_per_side=limit, seed=rng)
    critical = result.critical_value(level)
    return SubTest(
        name="embedding_mmd",
        description=f"unbiased MMD^2, RBF kernel with median-heuristic bandwidth; {policy.permutations} permutations",
        statistic=result.statistic, p_value=result.p_value, level=level, critical_value=critical,
        n_reference=min(len(reference), limit), n_current=min(len(current), limit),
        verdict="drift" if result.rejects(level) else "no_drift", values={"bandwidth": result.bandwidth},
        note=f"MMD^2 {result.statistic:.3g} against {critical:.3g} at level {level:.3g}, p={result.p_value:.3g}",
    )


# --- the check -------------------------------------------------------------------------------------------


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
        return SubTest(name=self.name, description=self.description, n_reference=len(ref) if ref is not None else 0,
                       n_current=len(cur) if cur is not None else 0, verdict="skipped", note=self.skip or "")


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
    embeddings = (_embeddings("reference_embeddings", reference_embeddings),
                  _embeddings("current_embeddings", current_embeddings))
    if embeddings[0].shape[1] != embeddings[1].shape[1]:
        raise DriftInputError(
            f"reference embeddings have {embeddings[0].shape[1]} dimensions and current ones "
            f"{embeddings[1].shape[1]}: embed both windows with the same model"
        )
    outputs = (None if reference_outputs is None else _texts("reference_outputs", reference_outputs),
               None if current_outputs is None else _texts("current_outputs", current_outputs))
    top1 = (None if reference_top1 is None else _similarities("reference_top1", reference_top1),
            None if current_top1 is None else _similarities("current_top1", current_top1))

    classifier_rng, mmd_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(policy.seed).spawn(2))
    embeddings_skip = _too_few(len(embeddings[0]), len(embeddings[1]), policy)
    outputs_skip = _why_not("outputs", *outputs, policy)
    top1_skip = _why_not("top-1 similarities", *top1, policy)
    planned = [
        _Planned("embedding_classifier", "domain classifier ROC AUC", embeddings, embeddings_skip,
                 lambda level: _classifier_subtest(*embeddings, level, policy, classifier_rng)),
        _Planned("embedding_mmd", "MMD^2, RBF kernel", embeddings, embeddings_skip,
                 lambda level: _mmd_subtest(*embeddings, level, policy, mmd_rng)),
        _Planned("output_length", "response length", outputs, outputs_skip,
                 lambda level: _length_test(*outputs, level, policy)),
        _Planned("output_refusal", "empty-or-refusal rate", outputs, outputs_skip,
                 lambda level: _refusal_test(*outputs, level, policy)),
        _Planned("retrieval_top1", "top-1 similarity to the index", top1, top1_skip,
                 lambda level: _retrieval_test(*top1, level, policy)),
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
    return DriftReport(drifted=bool(reasons), reasons=reasons, alpha=policy.alpha, level=level, tests=tests,
                       sample_sizes=sizes)
