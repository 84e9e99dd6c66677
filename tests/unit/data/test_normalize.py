"""Normalization: Unicode form, control characters, whitespace."""

from __future__ import annotations

import pytest

from tasks.ingest.records import Record
from tasks.prepare.normalize import normalize_batch, normalize_text, normalize_title


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("already clean\n\nparagraph two", "already clean\n\nparagraph two"),
        ("Cafe\u0301", "Caf\u00e9"),  # decomposed e + accent -> composed
        ("\ufb01ne", "\ufb01ne"),  # NFC keeps the ligature
        ("a\x00b\x07c\x1b\x7fd", "abcd"),
        ("zero\u200bwidth\ufeff and soft\u00adhyphen", "zerowidth and softhyphen"),
        ("joiner\u200d stays", "joiner\u200d stays"),
        ("windows\r\nline\rends", "windows\nline\nends"),
        ("page\x0cbreak", "page\nbreak"),
        ("para\u2029graph and line\u2028sep", "para\n\ngraph and line\nsep"),
        ("non\u00a0breaking\u2003spaces\u3000here", "non breaking spaces here"),
        ("words   with\t\ttabs  and  runs", "words with tabs and runs"),
        ("trailing   \nspaces\t\n", "trailing\nspaces"),
        ("\n\n\nleading blank lines", "leading blank lines"),
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),
        ("one\n \n\t\n \ntwo", "one\n\ntwo"),
        (">>> for x in y:\n...     print(x)\n    indented", ">>> for x in y:\n... print(x)\n    indented"),
        ("def f():\n    return  1", "def f():\n    return 1"),
    ],
)
def test_normalize_text_keep_indent(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a  b\nc\n\n\n d   e ", "a b c\n\nd e"),
        ("  indented\n  code", "indented code"),
        ("\ufb01ne", "\ufb01ne"),
    ],
)
def test_normalize_text_collapse(text: str, expected: str) -> None:
    assert normalize_text(text, whitespace="collapse") == expected


def test_nfkc_folds_compatibility_characters() -> None:
    assert normalize_text("\ufb01ne \uff21\uff22", form="NFKC") == "fine AB"


def test_titles_are_one_line() -> None:
    assert normalize_title("  A\n\ttitle  \u00a0here ") == "A title here"


def test_normalize_text_is_idempotent() -> None:
    text = "Ca\u0301fe\u0301\r\n\n\n\n  x\t\ty  \x00\nend\u2029"
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_batch_counts_changes_and_reports_emptied_records() -> None:
    records = [
        Record(
            "instruction", {"id": "1", "prompt": "Q?", "response": "Fine.", "source": "s", "meta": "{}"}, "u", "line 1"
        ),
        Record(
            "instruction", {"id": "2", "prompt": "Q  ?", "response": "x", "source": "s", "meta": "{}"}, "u", "line 2"
        ),
        Record("document", {"id": "3", "title": "", "text": "\u200b\x00", "source": "s", "meta": "{}"}, "u", "line 3"),
    ]
    out, changed, emptied = normalize_batch(records)
    assert [r.fields["prompt"] for r in out] == ["Q?", "Q ?"]
    assert changed == 2
    assert [(r.id, why) for r, why in emptied] == [
        ("3", "field 'text' is empty after normalization (only spaces or control characters)")
    ]
    assert records[1].fields["prompt"] == "Q  ?"  # inputs are not modified
