"""The two dataset kinds, their fields and limits, and the record types every step passes on.

- **instruction pairs** (``kind="instruction"``) for fine-tuning: ``id, prompt, response, source, meta``;
- **corpus documents** (``kind="document"``) for retrieval: ``id, title, text, source, meta``.

``meta`` is a JSON object serialized as a string, so the Parquet schema stays fixed whatever extra
fields a source brings. The limits are hard schema limits (a record over one is invalid and goes to
quarantine); the softer quality bounds live in ``PrepConfig``.
"""

from __future__ import annotations

import hashlib
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
    FieldSpec("id", True, ID_MAX_CHARS, "stable record id; derived from source and location when absent"),
    FieldSpec("prompt", True, 50_000, "the instruction or question"),
    FieldSpec("response", True, 200_000, "the answer the model should learn to give"),
    FieldSpec("source", True, SOURCE_MAX_CHARS, "where the record came from; the source URI when absent"),
    FieldSpec("meta", False, META_MAX_CHARS, "JSON object (as a string) with any extra fields"),
)
DOCUMENT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", True, ID_MAX_CHARS, "stable record id; derived from source and location when absent"),
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


def make_id(source: str, location: str, kind: Kind) -> str:
    """A stable id from where a record came from: re-reading the same input gives the same ids."""
    digest = hashlib.blake2b(f"{kind}\x00{source}\x00{location}".encode(), digest_size=10)
    return digest.hexdigest()


def main_text(record: Record) -> str:
    """The text a record is judged by (duplicates, quality): prompt and response, or the body."""
    f = record.fields
    if record.kind == "instruction":
        return f"{f['prompt']}\n{f['response']}"
    return f["text"]
