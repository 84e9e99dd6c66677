"""The preparation report: a typed result (``PrepReport``) and its Markdown rendering, which the flow
publishes as a Prefect artifact and ``prepare_dataset`` writes next to the data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tasks.prepare.validate import PolicyDecision


class StepReport(BaseModel):
    """Records into and out of one step, what it dropped (by reason) and the time it took."""

    name: str
    records_in: int = 0
    records_out: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)
    changed: int = Field(0, description="records the step rewrote (normalize, redact)")
    seconds: float = 0.0
    sample: list[str] = Field(default_factory=list, description="a few dropped records: where and why")


class QuarantineEntry(BaseModel):
    """A quarantined record or source problem, as the report shows it."""

    stage: str
    uri: str
    location: str
    reason: str
    excerpt: str = ""


class OutputFile(BaseModel):
    path: str = Field(description="relative to the output folder")
    rows: int
    kind: str


class SplitReport(BaseModel):
    train: int = 0
    eval: int = 0
    contaminated: int = Field(
        0,
        description="eval records removed as leaked from train (the same prompt words, or a share of "
        "contamination_threshold of the shorter text's word n-grams found in the other)",
    )


class PrepReport(BaseModel):
    """What one ``prepare_dataset`` run did, step by step, and whether its output may be used."""

    config_hash: str
    config: dict[str, Any]
    started_at: datetime
    seconds: float
    records_in: dict[str, int] = Field(description="raw records by kind")
    source_issues: int
    steps: list[StepReport]
    redactions: dict[str, int] = Field(description="placeholders inserted, by type")
    duplicates: dict[str, dict[str, int]] = Field(description="{'exact'|'near': {kind: count}}")
    quality: dict[str, int] = Field(description="records dropped, by filter")
    split: SplitReport
    outputs: list[OutputFile]
    quarantined: int
    quarantine_by_stage: dict[str, int]
    quarantine_sample: list[QuarantineEntry]
    decision: PolicyDecision

    def step(self, name: str) -> StepReport:
        return next(s for s in self.steps if s.name == name)

    def rows(self, kind: str) -> int:
        """Rows written for ``train``, ``eval`` or ``corpus``."""
        return sum(o.rows for o in self.outputs if o.kind == kind)

    def to_markdown(self) -> str:
        return render_markdown(self)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(report: PrepReport) -> str:
    d = report.decision
    verdict = "publish" if d.proceed else "do not publish"
    out = [
        "# Dataset preparation",
        "",
        f"**Decision: {verdict}.** {d.reason}.",
        "",
        f"Config `{report.config_hash}`, started {report.started_at:%Y-%m-%d %H:%M:%S} UTC, {report.seconds:.1f} s.",
        "",
        "## Input",
        "",
        *_table(
            ["kind", "records"],
            [[k, f"{v:,}"] for k, v in report.records_in.items()] + [["source issues", f"{report.source_issues:,}"]],
        ),
        "",
        "## Steps",
        "",
        *_table(
            ["step", "in", "out", "dropped", "changed", "seconds", "records/s"],
            [
                [
                    s.name,
                    f"{s.records_in:,}",
                    f"{s.records_out:,}",
                    ", ".join(f"{k}: {v:,}" for k, v in s.dropped.items()) or "-",
                    f"{s.changed:,}",
                    f"{s.seconds:.2f}",
                    f"{s.records_in / s.seconds:,.0f}" if s.seconds > 0 else "-",
                ]
                for s in report.steps
            ],
        ),
        "",
        "## Redactions",
        "",
        *(
            _table(["type", "count"], [[k, f"{v:,}"] for k, v in sorted(report.redactions.items())])
            if report.redactions
            else ["None found."]
        ),
        "",
        "## Duplicates",
        "",
        *_table(
            ["", "instruction", "document"],
            [
                [name, f"{by_kind.get('instruction', 0):,}", f"{by_kind.get('document', 0):,}"]
                for name, by_kind in report.duplicates.items()
            ],
        ),
        "",
        "## Quality filters",
        "",
        *(
            _table(["filter", "dropped"], [[k, f"{v:,}"] for k, v in report.quality.items()])
            if report.quality
            else ["Nothing dropped."]
        ),
        "",
        "## Split",
        "",
        *_table(
            ["train", "eval", "eval removed as contaminated"],
            [[f"{report.split.train:,}", f"{report.split.eval:,}", f"{report.split.contaminated:,}"]],
        ),
        "",
        "## Outputs",
        "",
        *(
            _table(["file", "rows"], [[f"`{o.path}`", f"{o.rows:,}"] for o in report.outputs])
            if report.outputs
            else ["None: the run did not pass the policy, nothing was published."]
        ),
        "",
        "## Quarantine",
        "",
        f"{report.quarantined:,} quarantined"
        + (
            " (" + ", ".join(f"{k}: {v:,}" for k, v in report.quarantine_by_stage.items()) + ")"
            if report.quarantine_by_stage
            else ""
        )
        + ", written to `quarantine/quarantine.jsonl`.",
    ]
    if report.quarantine_sample:
        out += [
            "",
            *_table(
                ["stage", "where", "reason"],
                [[q.stage, f"{q.uri}: {q.location}", q.reason] for q in report.quarantine_sample],
            ),
        ]
    samples = [(s.name, line) for s in report.steps for line in s.sample]
    if samples:
        out += ["", "## Examples of dropped records", "", *_table(["step", "record and reason"], samples)]
    return "\n".join(out) + "\n"
