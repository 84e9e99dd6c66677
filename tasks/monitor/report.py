"""The drift check's policy (`DriftPolicy`) and its outcome (`DriftReport`, one `SubTest` per statistic)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field, computed_field, model_validator

# The most sub-tests one check can run; the policy must allow p-values small enough for alpha / MAX_TESTS.
MAX_TESTS = 6

Verdict = Literal["drift", "no_drift", "skipped"]

# What a check concluded. Only "drift" raises an alarm; the two waiting states say what is missing.
#   drift                 at least one sub-test rejected at its level
#   no_drift              the sub-tests ran and none rejected
#   insufficient_data     the current window has fewer than `min_samples` requests: nothing can be said
#   collecting_reference  the champion has no reference traffic yet (fewer than `reference_requests`
#                         requests since its release, and no designated reference set)
State = Literal["drift", "no_drift", "insufficient_data", "collecting_reference"]


class DriftPolicy(BaseModel):
    """How the drift check decides: significance, test sizes, and the smallest changes worth an alarm."""

    alpha: float = Field(
        0.05,
        gt=0,
        le=0.5,
        description="Overall false-alarm rate on windows without drift; each of the m sub-tests runs at alpha / m.",
    )
    permutations: int = Field(
        399,
        ge=19,
        le=100_000,
        description="Label permutations for the classifier and MMD nulls (p-values are multiples of 1 / (this + 1)).",
    )
    classifier_folds: int = Field(5, ge=2, le=20, description="Stratified cross-validation folds of the classifier.")
    classifier_components: int = Field(
        16,
        ge=2,
        le=1024,
        description="Principal components (of both windows pooled) the domain classifier sees.",
    )
    classifier_c: float = Field(
        1.0,
        gt=0,
        le=1e4,
        description="Inverse L2 strength of the logistic regression (sklearn's C), whitened inputs.",
    )
    classifier_max_samples: int = Field(
        2000,
        ge=10,
        le=1_000_000,
        description="Rows per side the classifier uses; larger windows are subsampled.",
    )
    mmd_subsample: int = Field(
        1000,
        ge=10,
        le=20_000,
        description="Rows per side MMD uses; its kernel matrix grows with the square of this.",
    )
    novelty_subsample: int = Field(
        1000,
        ge=10,
        le=20_000,
        description="Rows per side the novelty test uses; its distance matrix grows with the square of this.",
    )
    novelty_tail: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Share of the current window, farthest from the reference, whose distance the novelty test "
        "averages: about the smallest share of new-topic traffic it is built to see.",
    )
    min_samples: int = Field(
        20,
        ge=2,
        description="A sub-test with fewer rows than this on either side is skipped; a current window with fewer "
        "requests than this is reported as insufficient data.",
    )
    reference_requests: int = Field(
        200,
        ge=2,
        le=100_000,
        description="Requests served by a new champion that make up its reference window: the first this many "
        "after its release are recorded with the release, and later windows are compared with them.",
    )
    reference_fallback: Literal["none", "training-prompts"] = Field(
        "none",
        description="What to compare with while the reference is being collected: 'none' reports the state "
        "'collecting reference'; 'training-prompts' uses a sample of the champion's training prompts, which are "
        "phrased unlike real traffic and raise false alarms on in-domain questions (a documented fallback).",
    )
    length_change: float = Field(
        0.25,
        ge=0,
        le=100,
        description="Smallest relative change of the mean response length that counts as drift.",
    )
    refusal_rate_change: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Smallest absolute change of the empty-or-refusal rate that counts as drift.",
    )
    top1_drop: float = Field(
        0.05,
        ge=0,
        le=2,
        description="Smallest drop of the mean top-1 similarity that counts as retrieval drift.",
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
        if self.reference_requests < self.min_samples:
            raise ValueError(
                f"reference_requests={self.reference_requests} is below min_samples={self.min_samples}: "
                "a reference that small could never be tested against"
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
        None,
        description="Statistic above which the sub-test rejects at `level` (permutation tests only).",
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

    state: State = Field(description="drift, no_drift, insufficient_data or collecting_reference (see State).")
    reasons: list[str] = Field(
        description="One line per sub-test that found drift, or the one line saying why the check could not run."
    )
    alpha: float
    level: float | None = Field(None, description="Per-sub-test level: alpha / tests run (Bonferroni); None: none ran.")
    tests: list[SubTest]
    sample_sizes: dict[str, SampleSizes] = Field(description="Rows given per input: embeddings, outputs, top1.")

    @computed_field
    @property
    def drifted(self) -> bool:
        """Only a check that ran and found drift raises an alarm."""
        return self.state == "drift"

    @property
    def state_name(self) -> str:
        """The state's name for a Prefect flow run: Drift, NoDrift, InsufficientData, CollectingReference."""
        return "".join(part.capitalize() for part in self.state.split("_"))

    @classmethod
    def waiting(
        cls, state: State, reason: str, alpha: float, sizes: dict[str, SampleSizes] | None = None
    ) -> DriftReport:
        """A check that could not run its sub-tests: `insufficient_data` or `collecting_reference`, and why."""
        if state not in ("insufficient_data", "collecting_reference"):
            raise ValueError(f"a waiting report is insufficient_data or collecting_reference, not {state!r}")
        return cls(state=state, reasons=[reason], alpha=alpha, tests=[], sample_sizes=sizes or {})

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
            "state": self.state,
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
        headline = _HEADLINES[self.state]
        lines = [f"# Drift check: {headline}", ""]
        lines += [f"- {reason}" for reason in self.reasons] or ["- every sub-test is within its bounds"]
        if not self.tests:
            return "\n".join(lines) + "\n"
        sizes = ", ".join(
            f"{kind} {n.reference} reference / {n.current} current" for kind, n in self.sample_sizes.items()
        )
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


_HEADLINES: dict[str, str] = {
    "drift": "**DRIFT DETECTED**",
    "no_drift": "**no drift**",
    "insufficient_data": "**insufficient data** (no verdict)",
    "collecting_reference": "**collecting reference** (no verdict)",
}


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
