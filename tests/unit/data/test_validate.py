"""Schema validation and the invalid-fraction policy."""

from __future__ import annotations

import json

import pytest

from tasks.ingest.records import Record, content_id
from tasks.prepare.validate import decide, unicode_problem, validate_batch

PAIR = {"id": "p1", "prompt": "What is it?", "response": "A dataset.", "source": "unit"}
DOC = {"id": "d1", "title": "Title", "text": "Body.", "source": "unit"}


def _one(kind: str, fields: dict[str, object]) -> tuple[dict[str, str] | None, str | None]:
    valid, bad = validate_batch([Record(kind, fields, "file.jsonl", "line 7")])  # type: ignore[arg-type]
    return (valid[0].fields if valid else None), (bad[0].reason if bad else None)


@pytest.mark.parametrize(
    ("kind", "fields", "reason"),
    [
        ("instruction", {**PAIR, "response": None}, "missing required field 'response'"),
        ("instruction", {k: v for k, v in PAIR.items() if k != "prompt"}, "missing required field 'prompt'"),
        ("instruction", {**PAIR, "prompt": 3.5}, "field 'prompt' must be a string, got float"),
        ("instruction", {**PAIR, "response": ["a"]}, "field 'response' must be a string, got list"),
        ("instruction", {**PAIR, "prompt": "   "}, "field 'prompt' is empty"),
        (
            "instruction",
            {**PAIR, "prompt": "x" * 50_001},
            "field 'prompt' is 50,001 characters, over the limit of 50,000",
        ),
        ("instruction", {**PAIR, "id": True}, "field 'id' must be a string, got bool"),
        ("instruction", {**PAIR, "id": "has space"}, "field 'id' contains whitespace"),
        ("instruction", {**PAIR, "id": "x" * 129}, "field 'id' is 129 characters, over the limit of 128"),
        (
            "instruction",
            {**PAIR, "prompt": "caf\udcc3"},
            "field 'prompt' is not valid text: invalid UTF-8 byte 0xC3 at character 3",
        ),
        (
            "instruction",
            {**PAIR, "response": "a\ud800b"},
            "field 'response' is not valid text: lone surrogate U+D800 at character 1 (an unpaired \\u escape)",
        ),
        ("instruction", {**PAIR, "meta": "[1]"}, "field 'meta' must be a JSON object, got list"),
        (
            "instruction",
            {**PAIR, "meta": "{bad"},
            "field 'meta' is not valid JSON: Expecting property name enclosed in double quotes at column 2",
        ),
        ("instruction", {**PAIR, "meta": 5}, "field 'meta' must be a JSON object or a string holding one, got int"),
        ("instruction", {**PAIR, "meta": {"k": "\udcff"}}, "field 'meta' is not valid text: invalid UTF-8 byte 0xFF"),
        ("document", {**DOC, "text": ""}, "field 'text' is empty"),
        ("document", {**DOC, "title": 7}, "field 'title' must be a string, got int"),
        ("document", {**DOC, "title": "t" * 1_001}, "field 'title' is 1,001 characters, over the limit of 1,000"),
    ],
)
def test_invalid_records_are_quarantined_with_the_reason(kind: str, fields: dict[str, object], reason: str) -> None:
    valid, why = _one(kind, fields)
    assert valid is None
    assert why is not None and why.startswith(reason)


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        ("instruction", PAIR, {**PAIR, "meta": "{}"}),
        ("instruction", {**PAIR, "id": 12}, {**PAIR, "id": "12", "meta": "{}"}),
        (
            "instruction",
            {"prompt": "Q?", "response": "A."},
            {
                "id": content_id("instruction", {"prompt": "Q?", "response": "A."}),
                "prompt": "Q?",
                "response": "A.",
                "source": "file.jsonl",
                "meta": "{}",
            },
        ),
        (
            "instruction",
            {**PAIR, "meta": {"b": 1, "a": "x"}, "lang": "en"},
            {**PAIR, "meta": json.dumps({"a": "x", "b": 1, "lang": "en"}, sort_keys=True)},
        ),
        ("instruction", {**PAIR, "meta": '{"lang": "de"}', "lang": "en"}, {**PAIR, "meta": '{"lang": "de"}'}),
        (
            "document",
            {"text": "Body."},
            {
                "id": content_id("document", {"text": "Body."}),
                "title": "",
                "text": "Body.",
                "source": "file.jsonl",
                "meta": "{}",
            },
        ),
    ],
)
def test_valid_records_come_out_canonical(kind: str, fields: dict[str, object], expected: dict[str, str]) -> None:
    valid, why = _one(kind, fields)
    assert why is None
    assert valid == expected


def test_duplicate_ids_across_batches() -> None:
    seen: set[int] = set()
    first, _ = validate_batch([Record("instruction", PAIR, "a", "line 1")], seen)
    valid, bad = validate_batch(
        [
            Record("instruction", {**PAIR, "prompt": "Other?"}, "b", "line 9"),
            Record("instruction", {**PAIR, "id": "p2"}, "b", "line 10"),
        ],
        seen,
    )
    assert [r.id for r in first] == ["p1"] and [r.id for r in valid] == ["p2"]
    assert [str(q) for q in bad] == ["b: line 9: duplicate id 'p1': an earlier record has the same id"]
    assert bad[0].stage == "validate" and bad[0].record is not None and bad[0].record["prompt"] == "Other?"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("plain ascii", None),
        ("ünïcödé ✓ 😀", None),
        ("\udc80", "invalid UTF-8 byte 0x80 at character 0"),
        ("ab\udfff", "lone surrogate U+DFFF at character 2 (an unpaired \\u escape)"),
    ],
)
def test_unicode_problem(value: str, problem: str | None) -> None:
    assert unicode_problem(value) == problem


@pytest.mark.parametrize(
    ("total", "invalid", "limit", "proceed"),
    [
        (100, 0, 0.0, True),
        (100, 5, 0.05, True),
        (100, 6, 0.05, False),
        (1000, 1, 0.0, False),
        (0, 0, 0.5, False),
        (3, 3, 1.0, False),
        (10, 9, 1.0, True),
    ],
)
def test_policy_decision(total: int, invalid: int, limit: float, proceed: bool) -> None:
    decision = decide(total, invalid, limit)
    assert decision.proceed is proceed
    assert decision.invalid_fraction == (round(invalid / total, 6) if total else 0.0)
    assert (decision.total, decision.invalid, decision.max_invalid_fraction) == (total, invalid, limit)
    assert ("over" in decision.reason or "no valid" in decision.reason) is not proceed
