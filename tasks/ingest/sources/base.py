"""What every source adapter shares: the config, the manifest, and turning parsed objects into records."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tasks.ingest.records import ContentIds, Kind, Record, SourceIssue

Item = Record | SourceIssue
Format = Literal["jsonl", "json", "csv", "parquet", "text"]

PYTHON_DOCS_URI = "builtin:python-docs"
HF_PREFIX = "hf:"

EXTENSIONS: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
    ".md": "text",
    ".markdown": "text",
}
EXCERPT_CHARS = 120
# A file of this name marks a folder as a run's state or output (work folders, prepared outputs):
# a folder source never reads a folder holding one, so a run cannot read what it writes.
RUN_OUTPUT_MARKER = ".llmops-run-output"


class SourceConfig(BaseModel):
    """How sources are read: the ingestion stage's knobs."""

    kind: Literal["auto", "instruction", "document"] = Field(
        "auto",
        description="record kind; 'auto' decides per record: prompt/response fields make an "
        "instruction pair, a text field a document; the built-in corpus keeps only the "
        "kind asked for",
    )
    limit: int | None = Field(
        None, ge=1, le=100_000_000, description="stop after this many records over all sources (demos, tests)"
    )
    batch_size: int = Field(1_000, ge=1, le=100_000, description="records per batch handed to the steps")
    max_record_bytes: int = Field(
        2_000_000,
        ge=1_024,
        le=1_000_000_000,
        description="a line, row, array element or .txt/.md file larger than this is an issue, not a record",
    )
    max_download_bytes: int = Field(
        2_000_000_000, ge=1, le=100_000_000_000, description="stop reading a URL past this many bytes"
    )
    http_timeout_s: float = Field(30.0, gt=0, le=600, description="connect/read timeout of one HTTP attempt")
    http_retries: int = Field(3, ge=0, le=10, description="extra attempts on timeouts, connection errors, 429, 5xx")
    http_backoff_s: float = Field(
        1.0, ge=0, le=60, description="first wait between attempts; doubles each time (Retry-After wins, up to 60 s)"
    )


class ManifestEntry(BaseModel):
    """What was read from one concrete source (a file, a URL, a saved dataset)."""

    uri: str
    format: str
    sha256: str = Field("", description="SHA-256 of the source's bytes (for a folder dataset: of its files)")
    bytes: int = 0
    records: int = 0
    issues: int = 0
    started_at: datetime
    seconds: float = 0.0
    complete: bool = Field(False, description="False when reading stopped before the end (the limit was reached)")
    # A folder source has an entry of its own (format "folder") ahead of its files' entries; its
    # records are counted in theirs, its issues are the folder's own (empty, link loops).
    skipped: dict[str, int] = Field(
        default_factory=dict,
        description="folder: files left unread because they hold no records (images, drawings, archives, "
        "binaries, any extension not read), by extension",
    )
    already_read: int = Field(
        0, description="folder: files and folders reached again through a symbolic link, not read twice"
    )
    excluded: list[str] = Field(
        default_factory=list, description="folder: folders not read because they hold this or another run's state"
    )


class SourceManifest(BaseModel):
    """The manifest of one ingestion: an entry per source, and the totals."""

    entries: list[ManifestEntry]

    @property
    def records(self) -> int:
        return sum(e.records for e in self.entries)

    @property
    def issues(self) -> int:
        return sum(e.issues for e in self.entries)

    @property
    def skipped(self) -> dict[str, int]:
        """Files left unread in folders, by extension, over all sources."""
        return count_by_extension(e.skipped for e in self.entries)


def count_by_extension(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Several per-extension counts added up, the most frequent first, then by name."""
    total: dict[str, int] = {}
    for one in counts:
        for extension, n in one.items():
            total[extension] = total.get(extension, 0) + n
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def with_ids(items: Iterable[Item], ids: ContentIds) -> Iterator[Item]:
    """The items, each record without an id given its content id (``ContentIds``), in order."""
    iterator = iter(items)
    try:
        for item in iterator:
            yield ids.assign(item) if isinstance(item, Record) else item
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()


def batched(items: Iterable[Item], batch_size: int) -> Iterator[list[Item]]:
    """Group a stream of records and issues into lists holding ``batch_size`` records each."""
    batch: list[Item] = []
    records = 0
    for item in items:
        batch.append(item)
        if isinstance(item, Record):
            records += 1
            if records == batch_size:
                yield batch
                batch, records = [], 0
    if batch:
        yield batch


def limited(items: Iterator[Item], limit: int | None) -> Iterator[Item]:
    if limit is None:
        yield from items
        return
    seen = 0
    try:
        for item in items:
            yield item
            if isinstance(item, Record):
                seen += 1
                if seen >= limit:
                    return
    finally:
        close = getattr(items, "close", None)
        if close:
            close()


def tracked(entry: ManifestEntry | None, items: Iterator[Item]) -> Iterator[Item]:
    """Count records and issues into a manifest entry while passing them on (for adapters)."""
    if entry is None:
        yield from items
        return
    started = time.perf_counter()
    try:
        for item in items:
            if isinstance(item, Record):
                entry.records += 1
            else:
                entry.issues += 1
            yield item
        entry.complete = True
    finally:
        entry.seconds = round(time.perf_counter() - started, 6)


def new_manifest_entry(manifest: list[ManifestEntry] | None, uri: str, fmt: str) -> ManifestEntry | None:
    """Append an entry for a source about to be read (for adapters); None when no manifest is kept."""
    if manifest is None:
        return None
    entry = ManifestEntry(uri=uri, format=fmt, started_at=datetime.now(UTC))
    manifest.append(entry)
    return entry


def mark_run_output(folder: Path) -> None:
    """Mark ``folder`` (created if needed) as a run's output, so that no folder source reads it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RUN_OUTPUT_MARKER).write_text(
        "This folder holds a run's output; llmops never reads it as a source.\n", encoding="utf-8"
    )


def excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


def json_error(exc: json.JSONDecodeError, column: bool = True) -> str:
    """The decoder's message, with the column (json's messages for some errors end in "at")."""
    message = exc.msg.removesuffix(" at")
    return f"{message} at column {exc.colno}" if column else message


def type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def record_from(
    obj: dict[str, Any], uri: str, location: str, kind: Literal["auto", "instruction", "document"] = "auto"
) -> Item:
    """A raw record from a parsed object, its kind decided by ``kind`` or by its fields."""
    fields = dict(obj)
    declared = fields.pop("kind", None)
    chosen: Kind
    if kind != "auto":
        chosen = kind
    elif declared in ("instruction", "document"):
        chosen = declared
    elif "prompt" in fields or "response" in fields:
        chosen = "instruction"
    elif "text" in fields:
        chosen = "document"
    else:
        names = ", ".join(sorted(map(str, fields))) or "none"
        return SourceIssue(
            uri,
            location,
            "cannot tell the record kind: expected 'prompt' and 'response' "
            f"(instruction pair) or 'text' (document); fields found: {names}",
        )
    return Record(chosen, fields, uri, location)


def sha256_file(path: Path, entry: ManifestEntry | None) -> None:
    if entry is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            entry.bytes += len(chunk)
    entry.sha256 = digest.hexdigest()


def format_of(name: str) -> Format | None:
    """The format a file name's extension says, or None."""
    return EXTENSIONS.get(Path(name).suffix.lower())


def value_size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(value_size(v) for v in value.values())
    if isinstance(value, list):
        return sum(value_size(v) for v in value)
    return 8
