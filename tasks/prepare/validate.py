"""Schema validation: every raw record against its kind's fields, types and limits.

A valid record comes out canonical: exactly the schema's fields, all strings. A missing ``id`` is
derived from the content, never from the location (``tasks.ingest.content_id``; records from the
sources already carry one, with repeats numbered), a missing ``source`` is the URI, ``title``
defaults to empty, and ``meta`` becomes a JSON object string that also holds any fields the schema
does not know (so nothing a source brought is dropped silently).

An invalid record goes to quarantine with the first reason found: a missing or empty required
field, a wrong type, a field over its length limit, text that is not valid Unicode (invalid UTF-8
bytes in the input, or an unpaired surrogate escape), ``meta`` that is not a JSON object, or an
``id`` already seen in this run.

The run-level policy is a decision, not an exception: ``decide`` compares the invalid fraction with
``max_invalid_fraction`` and says whether the preparation may be published.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from tasks.ingest import FIELDS, ID_MAX_CHARS, META_MAX_CHARS, Record, SourceIssue, content_id, json_error

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record (or a source problem) kept out of the dataset, with where and why."""

    stage: str
    uri: str
    location: str
    reason: str
    record: dict[str, Any] | None = None
    excerpt: str = ""

    @classmethod
    def from_issue(cls, issue: SourceIssue) -> Quarantined:
        return cls("source", issue.uri, issue.location, issue.reason, None, issue.excerpt)

    @classmethod
    def from_record(cls, stage: str, record: Record, reason: str) -> Quarantined:
        return cls(stage, record.uri, record.location, reason, {"kind": record.kind, **record.fields})

    def __str__(self) -> str:
        return f"{self.uri}: {self.location}: {self.reason}"


def unicode_problem(value: str) -> str | None:
    """Why ``value`` is not valid Unicode text, or None. Invalid UTF-8 bytes read with
    ``surrogateescape`` show up as U+DC80..U+DCFF; any other surrogate is an unpaired escape."""
    if value.isascii():
        return None
    m = _SURROGATE.search(value)
    if m is None:
        return None
    code = ord(m.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"invalid UTF-8 byte 0x{code - 0xDC00:02X} at character {m.start()}"
    return f"lone surrogate U+{code:04X} at character {m.start()} (an unpaired \\u escape)"


def _check_string(name: str, value: Any, max_chars: int, required: bool) -> str | None:
    if value is None:
        return f"missing required field {name!r}" if required else None
    if not isinstance(value, str):
        return f"field {name!r} must be a string, got {type(value).__name__}"
    if required and not value.strip():
        return f"field {name!r} is empty"
    if len(value) > max_chars:
        return f"field {name!r} is {len(value):,} characters, over the limit of {max_chars:,}"
    problem = unicode_problem(value)
    return f"field {name!r} is not valid text: {problem}" if problem else None


def _meta_json(meta: Any, extras: dict[str, Any]) -> str | tuple[None, str]:
    if meta is None:
        obj: dict[str, Any] = {}
    elif isinstance(meta, dict):
        obj = dict(meta)
    elif isinstance(meta, str):
        try:
            obj = json.loads(meta) if meta.strip() else {}
        except json.JSONDecodeError as exc:
            return None, f"field 'meta' is not valid JSON: {json_error(exc)}"
        if not isinstance(obj, dict):
            return None, f"field 'meta' must be a JSON object, got {type(obj).__name__}"
    else:
        return None, f"field 'meta' must be a JSON object or a string holding one, got {type(meta).__name__}"
    for key, value in extras.items():
        obj.setdefault(str(key), value)
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > META_MAX_CHARS:
        return None, f"field 'meta' is {len(text):,} characters, over the limit of {META_MAX_CHARS:,}"
    problem = unicode_problem(text)
    if problem:
        return None, f"field 'meta' is not valid text: {problem}"
    return text


def canonical_fields(record: Record) -> dict[str, str] | str:
    """The record's schema fields, canonical and checked; or the reason it is invalid."""
    raw = record.fields
    specs = FIELDS[record.kind]
    names = {s.name for s in specs}
    out: dict[str, str] = {}
    for spec in specs:
        value = raw.get(spec.name)
        if spec.name == "id":
            if value is None:
                value = content_id(record.kind, raw)
            elif isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            reason = _check_string("id", value, ID_MAX_CHARS, True)
            if reason is None and any(c.isspace() for c in value):
                reason = "field 'id' contains whitespace"
        elif spec.name == "source":
            value = record.uri if value is None else value
            reason = _check_string("source", value, spec.max_chars, True)
        elif spec.name == "meta":
            extras = {k: v for k, v in raw.items() if k not in names}
            meta = _meta_json(value, extras)
            if isinstance(meta, tuple):
                return meta[1]
            value, reason = meta, None
        else:
            reason = _check_string(spec.name, value, spec.max_chars, spec.required)
            value = "" if value is None else value
        if reason:
            return reason
        out[spec.name] = value
    return out


def id_key(record_id: str) -> int:
    """A compact, deterministic key of an id for the seen-ids set (8 bytes, not the whole string)."""
    return int.from_bytes(hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=8).digest())


def validate_batch(
    records: Iterable[Record],
    seen_ids: set[int] | None = None,
) -> tuple[list[Record], list[Quarantined]]:
    """The valid records, canonical, and the invalid ones in quarantine with their reason.

    ``seen_ids`` carries the ids of earlier batches; pass the same set for the whole run to
    catch duplicate ids across batches (it is updated in place)."""
    valid: list[Record] = []
    bad: list[Quarantined] = []
    for record in records:
        fields = canonical_fields(record)
        if isinstance(fields, str):
            bad.append(Quarantined.from_record("validate", record, fields))
            continue
        if seen_ids is not None:
            key = id_key(fields["id"])
            if key in seen_ids:
                bad.append(
                    Quarantined.from_record(
                        "validate", record, f"duplicate id {fields['id']!r}: an earlier record has the same id"
                    )
                )
                continue
            seen_ids.add(key)
        valid.append(Record(record.kind, fields, record.uri, record.location))
    return valid, bad


class PolicyDecision(BaseModel):
    """Whether the run may go on: the invalid share of the input against the policy."""

    proceed: bool
    total: int = Field(description="raw items seen: records plus source issues")
    invalid: int = Field(description="source issues plus records that failed validation")
    invalid_fraction: float
    max_invalid_fraction: float
    reason: str


def decide(total: int, invalid: int, max_invalid_fraction: float) -> PolicyDecision:
    """Proceed when the invalid fraction is at most the limit, and something valid is left."""
    fraction = invalid / total if total else 0.0
    if total == 0 or invalid == total:
        proceed, reason = False, "no valid records in the input"
    elif fraction > max_invalid_fraction:
        proceed, reason = (
            False,
            (
                f"{invalid:,} of {total:,} input items are invalid ({fraction:.2%}), over "
                f"max_invalid_fraction={max_invalid_fraction:.2%}"
            ),
        )
    else:
        proceed, reason = (
            True,
            (
                f"{invalid:,} of {total:,} input items are invalid ({fraction:.2%}), within "
                f"max_invalid_fraction={max_invalid_fraction:.2%}"
            ),
        )
    return PolicyDecision(
        proceed=proceed,
        total=total,
        invalid=invalid,
        invalid_fraction=round(fraction, 6),
        max_invalid_fraction=max_invalid_fraction,
        reason=reason,
    )
