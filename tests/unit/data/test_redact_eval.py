"""Redaction held to its figures on the hand-written evaluation set (``tests/data/redaction``).

The set was written by hand, not from ``tests.synthetic``, before the rules it scores (but by the
same hand: the figures are an upper bound of what unseen text gets). ``benchmarks/bench_redact.py``
measured recall 1.000 (335 of 335 values, every type), precision 1.000 and no benign string
changed, against 0.585, 0.849 and 33 before issue 12. The thresholds below leave a small margin
for a value or two, but not for a benign string: those must stay exactly as written.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.bench_redact import EVAL_SET, TYPES, load_cases, module_detector, score
from tasks.prepare import redact
from tasks.prepare.redact import REDACTION_TYPES, iban_valid, luhn_valid

CASES = load_cases()
RESULT = score(module_detector(redact), CASES)


def test_the_set_is_large_and_covers_every_type() -> None:
    planted = [p for c in CASES for p in c.planted]
    assert len(planted) >= 300 and sum(len(c.benign) for c in CASES) >= 150
    assert set(TYPES) == set(REDACTION_TYPES) == {p.type for p in planted}
    contexts = {c.context for c in CASES}
    assert {"log", "config", "email", "chat", "code"} <= contexts


def test_planted_numbers_are_valid_ones() -> None:
    """A card or IBAN in the set must pass its checksum: otherwise missing it would be right."""
    for case in CASES:
        for p in case.planted:
            compact = "".join(ch for ch in p.value if ch.isalnum()).upper()
            if p.type == "CARD":
                assert luhn_valid(compact), (case.line, p.value)
            elif p.type == "IBAN":
                assert iban_valid(compact), (case.line, p.value)


def test_recall_on_the_independent_set() -> None:
    assert RESULT["recall"] >= 0.95, RESULT["misses"]


@pytest.mark.parametrize("kind", TYPES)
def test_recall_by_type(kind: str) -> None:
    row = RESULT["by_type"][kind]
    assert row["recall"] >= 0.9, [m for m in RESULT["misses"] if f" {kind}:" in m]


def test_no_benign_string_is_changed() -> None:
    assert RESULT["benign_changed_examples"] == []


def test_precision_on_the_independent_set() -> None:
    assert RESULT["precision"] >= 0.97, RESULT["false_positives"]


def test_every_line_of_the_set_is_valid_json() -> None:
    lines = [line for line in EVAL_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == len(CASES) and all(isinstance(json.loads(line), dict) for line in lines)
