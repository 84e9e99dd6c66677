"""Text normalization: one Unicode form, no control characters, tidy whitespace.

Line breaks are unified first (CRLF, CR, form feed, U+2028/U+2029), then C0/C1 control characters
and invisible format characters (zero-width space, word joiner, BOM) are removed, the text is put in
Unicode normal form (NFC by default: composed characters, nothing else changed), and exotic spaces
become plain ones.

Whitespace, ``keep_indent`` (default): leading indentation is kept, because the Python docs are
full of code examples whose meaning depends on it; runs of spaces and tabs inside a line become
one space, trailing spaces go, and more than one blank line in a row becomes one (a paragraph
break). ``collapse``: every paragraph becomes one line of single spaces, paragraphs stay
separated by one blank line. Titles are always one line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Literal

from tasks.ingest import TEXT_FIELDS, Record

NormalForm = Literal["NFC", "NFKC"]
WhitespaceMode = Literal["keep_indent", "collapse"]

_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x85\u2028]")
_PARAGRAPH_SEPARATOR = "\u2029"
# C0 and C1 controls except tab and newline, plus invisible format characters that carry no
# meaning in text (zero-width space, word joiner, byte-order mark, soft hyphen). Zero-width
# (non-)joiners stay: some scripts and emoji sequences need them.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff]")
_ASCII_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# A tab, or two or more spaces/tabs, after a non-space (the lookbehind comes after the first
# character so the engine can skip to candidates instead of trying every position).
_INLINE_RUN = re.compile(r"[ \t](?<=\S[ \t])(?:[ \t]+|(?<=\t))")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def normalize_text(text: str, *, form: NormalForm = "NFC", whitespace: WhitespaceMode = "keep_indent") -> str:
    """The normalized text (see the module docstring for what changes)."""
    if not text.isascii():
        text = text.replace(_PARAGRAPH_SEPARATOR, "\n\n")
        if not unicodedata.is_normalized(form, text):
            text = unicodedata.normalize(form, text)
        text = _SPACES.sub(" ", text)
    # Each rewrite runs only when a cheap substring test says it can change something: most texts
    # need none of them, and a test is far cheaper than a regex pass.
    if "\r" in text or "\x0b" in text or "\x0c" in text or "\x85" in text or "\u2028" in text:
        text = _LINE_BREAKS.sub("\n", text)
    if text.isascii():
        # Most text is ASCII: deleting its control bytes in C tells in a microsecond whether the
        # regex pass is needed at all.
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_CONTROLS)) != len(data):
            text = _CONTROL.sub("", text)
    else:
        text = _CONTROL.sub("", text)
    if whitespace == "collapse":
        paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text))
        return "\n\n".join(p for p in paragraphs if p)
    if "  " in text or "\t" in text:
        text = _INLINE_RUN.sub(" ", text)
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.lstrip("\n").rstrip()


def normalize_title(title: str, *, form: NormalForm = "NFC") -> str:
    """A title on one line: normalized like text, every whitespace run one space."""
    return " ".join(normalize_text(title, form=form, whitespace="collapse").split())


def normalize_batch(
    records: Iterable[Record],
    *,
    form: NormalForm = "NFC",
    whitespace: WhitespaceMode = "keep_indent",
) -> tuple[list[Record], int, list[tuple[Record, str]]]:
    """Validated records with their text fields normalized; how many changed; and the records left
    with an empty required field (only control characters or spaces), each with the reason."""
    out: list[Record] = []
    emptied: list[tuple[Record, str]] = []
    changed = 0
    for record in records:
        fields = dict(record.fields)
        for name in TEXT_FIELDS[record.kind]:
            value = fields[name]
            fields[name] = (
                normalize_title(value, form=form)
                if name == "title"
                else normalize_text(value, form=form, whitespace=whitespace)
            )
        if fields != record.fields:
            changed += 1
        empty = [n for n in TEXT_FIELDS[record.kind] if n != "title" and not fields[n]]
        if empty:
            emptied.append(
                (record, f"field {empty[0]!r} is empty after normalization (only spaces or control characters)")
            )
            continue
        out.append(Record(record.kind, fields, record.uri, record.location))
    return out, changed, emptied
