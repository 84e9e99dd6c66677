"""Quality filters, each with its own count."""

from __future__ import annotations

from collections import Counter

import pytest

from tasks.ingest.records import Record
from tasks.prepare.quality import (
    QualityBounds,
    duplicate_line_fraction,
    duplicate_ngram_fraction,
    failed_filter,
    quality_filter,
)
from tasks.prepare.shingles import word_hashes

BOUNDS = QualityBounds(
    min_chars=20,
    max_chars=500,
    min_words=4,
    max_duplicate_line_fraction=0.5,
    max_duplicate_ngram_fraction=0.5,
    ngram_words=3,
)
GOOD = "A perfectly ordinary answer that explains one idea in a few plain words."


@pytest.mark.parametrize(
    ("text", "failed"),
    [
        (GOOD, None),
        ("Too short.", "too_short"),
        ("word " * 120, "too_long"),
        ("!!! ??? ... ---- ++++ ===== ~~~~ -- one", "too_few_words"),
        ("menu\nhome\nmenu\nhome\nmenu\nhome\ncontact", "repeated_lines"),
        ("one two three " * 8, "repeated_ngrams"),
        ("line one here\nline two here\nline three here\nline one here", None),  # 1 of 4 lines repeats
    ],
)
def test_failed_filter(text: str, failed: str | None) -> None:
    assert failed_filter(text, BOUNDS) == failed


@pytest.mark.parametrize(
    ("text", "fraction"),
    [
        ("a\nb", 0.0),
        ("a\na\na\na", 0.75),
        ("a\n\nb\n \nc\na", 0.25),
        ("x", 0.0),
    ],
)
def test_duplicate_line_fraction(text: str, fraction: float) -> None:
    assert duplicate_line_fraction(text) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("words", "n", "fraction"),
    [
        ("a b c d e", 3, 0.0),
        ("a b a b a b", 2, 0.6),
        ("a b", 3, 0.0),
        ("x x x x", 1, 0.75),
    ],
)
def test_duplicate_ngram_fraction(words: str, n: int, fraction: float) -> None:
    assert duplicate_ngram_fraction(word_hashes(words), n) == pytest.approx(fraction)


def test_quality_filter_counts_each_filter() -> None:
    def pair(rid: str, response: str) -> Record:
        return Record(
            "instruction",
            {"id": rid, "prompt": "Explain?", "response": response, "source": "s", "meta": "{}"},
            "u",
            f"line {rid}",
        )

    records = [
        pair("1", GOOD),
        pair("2", "ok"),
        pair("3", "spam " * 30),
        pair("4", GOOD + " Indeed."),
        pair("5", "x " * 300),
    ]
    kept, dropped, counts = quality_filter(records, BOUNDS)
    assert [r.id for r in kept] == ["1", "4"]
    assert [(r.id, why) for r, why in dropped] == [("2", "too_short"), ("3", "repeated_ngrams"), ("5", "too_long")]
    assert counts == Counter({"too_short": 1, "repeated_ngrams": 1, "too_long": 1})
