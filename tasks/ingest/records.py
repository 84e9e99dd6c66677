"""The two dataset kinds, their fields and limits, and the record types every step passes on.

- **instruction pairs** (``kind="instruction"``) for fine-tuning: ``id, prompt, response, source, meta``;
- **corpus documents** (``kind="document"``) for retrieval: ``id, title, text, source, meta``.

``meta`` is a JSON object serialized as a string, so the Parquet schema stays fixed whatever extra
fields a source brings. The limits are hard schema limits (a record over one is invalid and goes to
quarantine); the softer quality bounds live in ``PrepConfig``.

Ids. A record keeps the id its source gives it. One without gets ``content_id``: a hash of its kind and
its main text (prompt and response; a document's body), in a fixed canonical form, never of its file
or line. The split is a hash of the id, so a record stays in its split when its file moves, is renamed
or grows. ``ContentIds`` numbers repeats: the second record with the same content in one read gets a
different id (the content's id salted with 1, and so on), so identical records never collide as ids;
removing the copies is exact dedupe's job, where it is switched on.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

Kind = Literal["instruction", "document"]
KINDS: tuple[Kind, ...] = ("instruction", "document")


@dataclass(frozen=True)
class FieldSpec:
    """One column of a dataset kind."""

    name: str
    required: bool
    max_chars: int
    description: str


# Limits in characters. 50k characters is about 12k tokens: a prompt longer than that is almost
# always a paste accident; 1M characters is a whole book, beyond any retrieval chunker's input.
ID_MAX_CHARS = 128
SOURCE_MAX_CHARS = 2_048
META_MAX_CHARS = 20_000

INSTRUCTION_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", True, ID_MAX_CHARS, "stable record id; derived from the content when absent"),
    FieldSpec("prompt", True, 50_000, "the instruction or question"),
    FieldSpec("response", True, 200_000, "the answer the model should learn to give"),
    FieldSpec("source", True, SOURCE_MAX_CHARS, "where the record came from; the source URI when absent"),
    FieldSpec("meta", False, META_MAX_CHARS, "JSON object (as a string) with any extra fields"),
)
DOCUMENT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", True, ID_MAX_CHARS, "stable record id; derived from the content when absent"),
    FieldSpec("title", False, 1_000, "document title; empty when unknown"),
    FieldSpec("text", True, 1_000_000, "the document body"),
    FieldSpec("source", True, SOURCE_MAX_CHARS, "where the record came from; the source URI when absent"),
    FieldSpec("meta", False, META_MAX_CHARS, "JSON object (as a string) with any extra fields"),
)
FIELDS: dict[Kind, tuple[FieldSpec, ...]] = {"instruction": INSTRUCTION_FIELDS, "document": DOCUMENT_FIELDS}

# The free-text fields of each kind, the ones normalization and redaction rewrite.
TEXT_FIELDS: dict[Kind, tuple[str, ...]] = {"instruction": ("prompt", "response"), "document": ("title", "text")}


def _arrow_schema(fields: tuple[FieldSpec, ...], kind: Kind) -> pa.Schema:
    return pa.schema(
        [
            pa.field(
                f.name,
                pa.string(),
                nullable=False,
                metadata={"max_chars": str(f.max_chars), "description": f.description},
            )
            for f in fields
        ],
        metadata={"kind": kind},
    )


INSTRUCTION_SCHEMA = _arrow_schema(INSTRUCTION_FIELDS, "instruction")
DOCUMENT_SCHEMA = _arrow_schema(DOCUMENT_FIELDS, "document")
ARROW_SCHEMAS: dict[Kind, pa.Schema] = {"instruction": INSTRUCTION_SCHEMA, "document": DOCUMENT_SCHEMA}


@dataclass(slots=True)
class Record:
    """One record on its way through the steps.

    ``fields`` holds the raw values as a source read them; after validation it holds exactly the
    kind's schema fields, all strings. ``uri`` and ``location`` (``"line 12"``, ``"row 3"``,
    ``"record 5"``) say where it came from, for every message about it.
    """

    kind: Kind
    fields: dict[str, Any]
    uri: str
    location: str

    @property
    def id(self) -> str:
        return str(self.fields.get("id", ""))

    def where(self) -> str:
        return f"{self.uri}: {self.location}"


@dataclass(frozen=True, slots=True)
class SourceIssue:
    """A problem a source met instead of a record: what, where, and a short excerpt of the input."""

    uri: str
    location: str
    reason: str
    excerpt: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.uri}: {self.location}: {self.reason}"


def make_id(source: str, key: str, kind: Kind) -> str:
    """An id from a source's own stable name for a record (the built-in docs: ``member:json.dumps``).

    Not for file locations: a line number changes when the file grows (see ``content_id``)."""
    digest = hashlib.blake2b(f"{kind}\x00{source}\x00{key}".encode(), digest_size=10)
    return digest.hexdigest()


# What a record's identity is made of: its main text, the text dedupe compares. A document's title is
# left out: for a .txt/.md file without a heading it is the file name, which a move may change.
CONTENT_FIELDS: dict[Kind, tuple[str, ...]] = {"instruction": ("prompt", "response"), "document": ("text",)}


def _canonical(value: Any) -> str:
    """A field's value in the one form ids are computed from: NFC, every whitespace run one space.

    Fixed on purpose, whatever ``PrepConfig`` normalizes: a change of line endings (CRLF), of
    indentation or of Unicode composition gives the same id, and so does a change of the
    normalization settings (which would otherwise reshuffle the split)."""
    if value is None:
        return ""
    if not isinstance(value, str):  # invalid input (a number, a list) still needs an id for quarantine
        value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    return " ".join(value.split())


def _content_digest(kind: Kind, fields: dict[str, Any], occurrence: int) -> bytes:
    parts = [kind, *(_canonical(fields.get(name)) for name in CONTENT_FIELDS[kind])]
    if occurrence:
        parts.append(f"#{occurrence}")
    return hashlib.blake2b("\x00".join(parts).encode("utf-8", "surrogatepass"), digest_size=10).digest()


def content_id(kind: Kind, fields: dict[str, Any], occurrence: int = 0) -> str:
    """The id of a record without one: 20 hex digits from its kind and canonical main text.

    ``occurrence`` tells apart records with the same content in one read (0 for the first)."""
    return _content_digest(kind, fields, occurrence).hex()


class ContentIds:
    """Gives ids to the records of one read, in input order: ``content_id``, with the n-th repeat of
    the same content getting ``occurrence=n``. Only a repeat of an earlier record's content can
    change which id a record gets, and such a record is an exact duplicate anyway.

    Memory: one 8-byte key per distinct content (a Python set, like preparation's seen ids), and a
    count per content that repeats."""

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._repeats: dict[int, int] = {}

    def assign(self, record: Record) -> Record:
        """The record itself when it has an id; else a copy carrying its content id."""
        if record.fields.get("id") is not None:
            return record
        digest = _content_digest(record.kind, record.fields, 0)
        key = int.from_bytes(digest[:8])
        if key in self._seen:
            occurrence = self._repeats[key] = self._repeats.get(key, 0) + 1
            digest = _content_digest(record.kind, record.fields, occurrence)
        else:
            self._seen.add(key)
        fields = {"id": digest.hex(), **{k: v for k, v in record.fields.items() if k != "id"}}
        return Record(record.kind, fields, record.uri, record.location)


def main_text(record: Record) -> str:
    """The text a record is judged by (duplicates, quality): prompt and response, or the body."""
    f = record.fields
    if record.kind == "instruction":
        return f"{f['prompt']}\n{f['response']}"
    return f["text"]
