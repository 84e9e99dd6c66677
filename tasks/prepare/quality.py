"""Quality filters: length bounds and repetition, each counted on its own.

A record is judged by its main text (prompt and response, or the document body) and dropped by the
first filter it fails, in this order:

- ``too_short`` / ``too_long``: characters outside ``[min_chars, max_chars]``;
- ``too_few_words``: fewer than ``min_words`` words (runs of letters and digits, see ``shingles``);
- ``repeated_lines``: the share of non-blank lines that repeat an earlier line is over
  ``max_duplicate_line_fraction`` (boilerplate, scraped navigation, log spam);
- ``repeated_ngrams``: the share of word n-grams that repeat an earlier n-gram is over
  ``max_duplicate_ngram_fraction`` (degenerate "the the the" text, copy-paste loops).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasks.ingest import Record, main_text
from tasks.prepare.shingles import ngram_hashes, word_hashes

FILTERS = ("too_short", "too_long", "too_few_words", "repeated_lines", "repeated_ngrams")


@dataclass(frozen=True)
class QualityBounds:
    """The thresholds, copied from ``PrepConfig`` (which documents them)."""

    min_chars: int = 20
    max_chars: int = 100_000
    min_words: int = 3
    max_duplicate_line_fraction: float = 0.5
    max_duplicate_ngram_fraction: float = 0.5
    ngram_words: int = 3


def duplicate_line_fraction(text: str) -> float:
    """Share of the non-blank lines that repeat an earlier line (0 for fewer than 3 lines)."""
    if text.count("\n") < 2:
        return 0.0
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) < 3:
        return 0.0
    return 1 - len(set(lines)) / len(lines)


def duplicate_ngram_fraction(words: np.ndarray, n: int) -> float:
    """Share of the word n-grams that repeat an earlier n-gram (0 when there are under 2);
    ``words`` are ``word_hashes`` of the text."""
    grams = ngram_hashes(words, n)
    if len(grams) < 2:
        return 0.0
    return 1 - len(set(grams.tolist())) / len(grams)


def failed_filter(text: str, bounds: QualityBounds, words: np.ndarray | None = None) -> str | None:
    """The first filter the text fails, or None; ``words`` (``word_hashes(text)``) may be passed
    when already computed."""
    if len(text) < bounds.min_chars:
        return "too_short"
    if len(text) > bounds.max_chars:
        return "too_long"
    if words is None:
        words = word_hashes(text)
    if len(words) < bounds.min_words:
        return "too_few_words"
    if duplicate_line_fraction(text) > bounds.max_duplicate_line_fraction:
        return "repeated_lines"
    if duplicate_ngram_fraction(words, bounds.ngram_words) > bounds.max_duplicate_ngram_fraction:
        return "repeated_ngrams"
    return None


def quality_filter(
    records: Sequence[Record],
    bounds: QualityBounds,
    words: Sequence[np.ndarray] | None = None,
) -> tuple[list[Record], list[tuple[Record, str]], Counter[str]]:
    """The records that pass, the dropped ones with the filter that dropped them, counts by filter.

    ``words`` (``word_hashes`` of each record's main text) may be passed when already computed."""
    kept: list[Record] = []
    dropped: list[tuple[Record, str]] = []
    counts: Counter[str] = Counter()
    for i, record in enumerate(records):
        failed = failed_filter(main_text(record), bounds, None if words is None else words[i])
        if failed is None:
            kept.append(record)
        else:
            counts[failed] += 1
            dropped.append((record, failed))
    return kept, dropped, counts
