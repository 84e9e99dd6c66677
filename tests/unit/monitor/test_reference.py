"""The drift reference's pure parts: whose traffic counts, request identity, reference files, release time."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from tasks.monitor import DriftPolicy, DriftReport, designated_rows, read_questions
from tasks.monitor.errors import DriftInputError
from tasks.monitor.reference import released_at, request_key, served_by
from tasks.serve import AskResult


def _logged(model: str, version: str, at: str, question: str = "q", request_id: str | None = None) -> dict:
    row = {"model": model, "model_version": version, "at": at, "question": question, "answer": "a", "hits": []}
    if request_id:
        row["request_id"] = request_id
    return row


def test_only_the_versions_own_traffic_counts_oldest_first():
    rows = [
        _logged("m", "2", "2026-12-01T10:05:00+00:00", "late"),
        _logged("m", "1", "2026-12-01T10:00:00+00:00", "old champion"),
        _logged("other", "2", "2026-12-01T10:01:00+00:00", "another model"),
        _logged("m", "2", "2026-12-01T10:02:00+00:00", "early"),
    ]
    assert [r["question"] for r in served_by(rows, "m", "2")] == ["early", "late"]
    assert served_by(rows, "m", 1)[0]["question"] == "old champion"  # versions compare as text


def test_requests_are_told_apart_by_id_and_old_logs_by_time_and_question():
    at = datetime.now(UTC)
    a, b = (
        AskResult(question="x", answer="", hits=[], model="m", model_version="1", collection="c", latency_ms=1, at=at)
        for _ in range(2)
    )
    assert a.request_id != b.request_id  # one batch shares its time; the ids keep its requests apart
    assert request_key(a.model_dump(mode="json")) != request_key(b.model_dump(mode="json"))
    old = _logged("m", "1", "2026-12-01T10:00:00+00:00", "how?")
    assert request_key(old) == "2026-12-01T10:00:00+00:00|how?"


def test_release_time_is_the_promotion_tag_else_the_registration():
    promoted = SimpleNamespace(tags={"llmops.promoted_at": "2026-12-01T09:30:00Z"}, creation_timestamp=0)
    assert released_at(promoted) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    registered = SimpleNamespace(tags={}, creation_timestamp=1_764_580_000_000)
    assert released_at(registered) == datetime.fromtimestamp(1_764_580_000, tz=UTC)


def test_a_reference_file_takes_plain_lines_and_json_lines():
    text = 'How do I sort a dict by value?\n\n{"question": "json.dumps vs json.dump?", "topic": "json"}\n'
    assert read_questions(text, "ref.txt") == ["How do I sort a dict by value?", "json.dumps vs json.dump?"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "no question field"}\n', "ref.jsonl, line 1: a JSON line needs a non-empty string field"),
        ('ok\n{"question": ""}\n', "line 2"),
        ("\n  \n", "has no questions"),
    ],
)
def test_a_bad_reference_file_names_the_line(text, message):
    with pytest.raises(DriftInputError, match=message):
        read_questions(text, "ref.jsonl")


def test_designated_rows_refuse_empty_questions():
    assert designated_rows(["a", "b"]) == [{"question": "a"}, {"question": "b"}]
    with pytest.raises(DriftInputError, match="1 of 2 reference questions are empty"):
        designated_rows(["a", "  "])


def test_the_reference_must_be_testable():
    with pytest.raises(ValidationError, match="reference_requests=10 is below min_samples=20"):
        DriftPolicy(reference_requests=10)
    assert DriftPolicy().reference_fallback == "none"  # training prompts only when asked for


def test_waiting_reports_carry_no_verdict():
    report = DriftReport.waiting("collecting_reference", "12 of 100 requests", alpha=0.05)
    assert not report.drifted and report.tests == [] and report.summary()["state"] == "collecting_reference"
    assert "collecting reference" in report.markdown() and "12 of 100 requests" in report.markdown()
    assert report.model_dump()["drifted"] is False  # the flow's result, as the CLI reads it
    assert report.state_name == "CollectingReference"
    assert DriftReport.waiting("insufficient_data", "3", alpha=0.05).state_name == "InsufficientData"
    with pytest.raises(ValueError, match="not 'drift'"):
        DriftReport.waiting("drift", "x", alpha=0.05)
