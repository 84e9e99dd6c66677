"""Source adapters: read raw records from files, folders, URLs, saved Hugging Face datasets and the
built-in Python documentation corpus.

Every adapter is a generator of ``Record`` (raw fields, tagged with kind, URI and location) and
``SourceIssue`` items, in input order. A bad line, row or file becomes an issue naming the URI, the
location and the reason, and reading goes on: the valid records around a bad one are never lost.
Nothing here raises for bad data.

    read_source(uri)       one URI: a file, a folder (recursive, sorted), http(s)://, hf:<dir>,
                           or builtin:python-docs
    read_sources(uris)     several, in order, with ``SourceConfig.limit`` over all of them
    read_batches(uris)     the same, in lists of ``SourceConfig.batch_size`` records (what
                           ``prepare_dataset`` takes)
    build_manifest(uris)   read everything and return the manifest alone

Pass a list as ``manifest=`` to any of them to collect a ``ManifestEntry`` per concrete source
(file, URL, dataset): URI, SHA-256 of its bytes, record and issue counts, time.

Files are read as streams: JSONL line by line, JSON arrays element by element, CSV row by row,
Parquet in row batches, so memory stays bounded by ``max_record_bytes`` and the batch size.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from tasks.data.schemas import Kind, Record, SourceIssue

Item = Record | SourceIssue
Format = Literal["jsonl", "json", "csv", "parquet", "text"]

PYTHON_DOCS_URI = "builtin:python-docs"
HF_PREFIX = "hf:"

EXTENSIONS: dict[str, Format] = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet",
    ".txt": "text", ".md": "text", ".markdown": "text",
}
CONTENT_TYPES: dict[str, Format] = {
    "application/jsonl": "jsonl", "application/x-ndjson": "jsonl", "application/x-jsonlines": "jsonl",
    "application/json": "json", "text/csv": "csv", "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet", "text/plain": "text", "text/markdown": "text",
}
# Statuses worth another try: the server is overloaded, rate-limits us, or failed transiently.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_SNIFF_BYTES = 8_192
_CHUNK_CHARS = 1 << 16
_EXCERPT_CHARS = 120


class SourceConfig(BaseModel):
    """How sources are read: the ingestion stage's knobs."""

    kind: Literal["auto", "instruction", "document"] = Field(
        "auto", description="record kind; 'auto' decides per record: prompt/response fields make an "
                            "instruction pair, a text field a document; the built-in corpus keeps only the "
                            "kind asked for")
    limit: int | None = Field(
        None, ge=1, le=100_000_000, description="stop after this many records over all sources (demos, tests)")
    batch_size: int = Field(1_000, ge=1, le=100_000, description="records per batch handed to the steps")
    max_record_bytes: int = Field(
        2_000_000, ge=1_024, le=1_000_000_000,
        description="a line, row, array element or .txt/.md file larger than this is an issue, not a record")
    max_download_bytes: int = Field(
        2_000_000_000, ge=1, le=100_000_000_000, description="stop reading a URL past this many bytes")
    http_timeout_s: float = Field(30.0, gt=0, le=600, description="connect/read timeout of one HTTP attempt")
    http_retries: int = Field(3, ge=0, le=10, description="extra attempts on timeouts, connection errors, 429, 5xx")
    http_backoff_s: float = Field(
        1.0, ge=0, le=60, description="first wait between attempts; doubles each time (Retry-After wins, up to 60 s)")


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


class SourceManifest(BaseModel):
    """The manifest of one ingestion: an entry per source, and the totals."""

    entries: list[ManifestEntry]

    @property
    def records(self) -> int:
        return sum(e.records for e in self.entries)

    @property
    def issues(self) -> int:
        return sum(e.issues for e in self.entries)


# --------------------------------------------------------------------------- entry points


def read_source(uri: str | Path, config: SourceConfig | None = None, *,
                manifest: list[ManifestEntry] | None = None) -> Iterator[Item]:
    """Records and issues from one URI, in input order (see the module docstring for URI forms)."""
    config = config or SourceConfig()
    text = str(uri)
    if text in (PYTHON_DOCS_URI, "python-docs"):
        from tasks.data.python_docs import read_python_docs

        yield from _limited(read_python_docs(config, manifest=manifest), config.limit)
        return
    if text.startswith(("http://", "https://")):
        yield from _limited(_read_url(text, config, manifest), config.limit)
        return
    if text.startswith(HF_PREFIX):
        yield from _limited(_read_hf_dataset(Path(text[len(HF_PREFIX):]), config, manifest), config.limit)
        return
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", text):
        yield SourceIssue(text, "uri", "unsupported URI scheme (use a path, http(s)://, hf:<dir> or "
                                       f"{PYTHON_DOCS_URI})")
        return
    yield from _limited(_read_path(Path(text), text, config, manifest), config.limit)


def read_sources(uris: Iterable[str | Path], config: SourceConfig | None = None, *,
                 manifest: list[ManifestEntry] | None = None) -> Iterator[Item]:
    """Records and issues from several URIs in order; ``config.limit`` counts over all of them."""
    config = config or SourceConfig()
    per_source = config.model_copy(update={"limit": None})
    items = (item for uri in uris for item in read_source(uri, per_source, manifest=manifest))
    yield from _limited(items, config.limit)


def read_batches(uris: Iterable[str | Path], config: SourceConfig | None = None, *,
                 manifest: list[ManifestEntry] | None = None) -> Iterator[list[Item]]:
    """``read_sources`` in lists of ``config.batch_size`` records (issues ride along uncounted)."""
    config = config or SourceConfig()
    yield from batched(read_sources(uris, config, manifest=manifest), config.batch_size)


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


def build_manifest(uris: Iterable[str | Path], config: SourceConfig | None = None) -> SourceManifest:
    """Read every source once, keep nothing but the manifest (checksums, counts, times)."""
    entries: list[ManifestEntry] = []
    for _ in read_sources(uris, config, manifest=entries):
        pass
    return SourceManifest(entries=entries)


# --------------------------------------------------------------------------- shared helpers


def _limited(items: Iterator[Item], limit: int | None) -> Iterator[Item]:
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


def _excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."


def json_error(exc: json.JSONDecodeError, column: bool = True) -> str:
    """The decoder's message, with the column (json's messages for some errors end in "at")."""
    message = exc.msg.removesuffix(" at")
    return f"{message} at column {exc.colno}" if column else message


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", int: "integer", float: "number",
            bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


def record_from(obj: dict[str, Any], uri: str, location: str,
                kind: Literal["auto", "instruction", "document"] = "auto") -> Item:
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
        return SourceIssue(uri, location, "cannot tell the record kind: expected 'prompt' and 'response' "
                                          f"(instruction pair) or 'text' (document); fields found: {names}")
    return Record(chosen, fields, uri, location)


def _sha256_file(path: Path, entry: ManifestEntry | None) -> None:
    if entry is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            entry.bytes += len(chunk)
    entry.sha256 = digest.hexdigest()


# --------------------------------------------------------------------------- local paths


def _read_path(path: Path, uri: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    if not path.exists():
        yield SourceIssue(uri, "file", "no such file or folder")
    else:
        yield from _read_entry(path, uri, config, manifest)


def _read_entry(path: Path, uri: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    """A saved Hugging Face dataset, a folder or a file."""
    if path.is_dir():
        if is_saved_hf_dataset(path):
            yield from _read_hf_dataset(path, config, manifest)
        else:
            yield from _read_folder(path, config, manifest)
    else:
        yield from _read_file(path, uri, config, manifest)


def _read_folder(folder: Path, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    """Every file below ``folder`` in sorted order; hidden files and folders (``.name``) are skipped."""
    for child in sorted(folder.iterdir()):
        if not child.name.startswith("."):
            yield from _read_entry(child, str(child), config, manifest)


def format_of(name: str) -> Format | None:
    """The format a file name's extension says, or None."""
    return EXTENSIONS.get(Path(name).suffix.lower())


def _read_file(path: Path, uri: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    fmt = format_of(path.name)
    entry = new_manifest_entry(manifest, uri, fmt or "unsupported")
    yield from tracked(entry, _file_items(path, uri, fmt, config, entry))


def _file_items(path: Path, uri: str, fmt: Format | None, config: SourceConfig,
                entry: ManifestEntry | None) -> Iterator[Item]:
    if fmt is None:
        supported = ", ".join(sorted(EXTENSIONS))
        yield SourceIssue(uri, "file", f"unsupported extension {path.suffix or '(none)'!r} (supported: {supported})")
        return
    try:
        _sha256_file(path, entry)
        with path.open("rb") as stream:
            yield from parse_stream(stream, fmt, uri, path.name, config)
    except OSError as exc:
        yield SourceIssue(uri, "file", f"cannot read the file: {exc.strerror or exc}")


def parse_stream(stream: IO[bytes], fmt: Format, uri: str, name: str, config: SourceConfig) -> Iterator[Item]:
    """Records and issues from a seekable binary stream in a known format."""
    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    if not head:
        yield SourceIssue(uri, "file", "empty file")
        return
    if fmt == "parquet":
        if not head.startswith(b"PAR1"):
            yield SourceIssue(uri, "file", "not a Parquet file (no PAR1 magic bytes)", _excerpt(head[:40]))
            return
    elif b"\x00" in head:
        yield SourceIssue(uri, "file", f"binary file: NUL bytes in the first {_SNIFF_BYTES:,} bytes, not {fmt} "
                                       "text (only UTF-8 text is read)")
        return
    readers = {"jsonl": _read_jsonl, "json": _read_json_array, "csv": _read_csv,
               "parquet": _read_parquet, "text": _read_text_document}
    produced = False
    for item in readers[fmt](stream, uri, name, config):
        produced = True
        yield item
    if not produced:
        yield SourceIssue(uri, "file", "empty file: no records in it")


# --------------------------------------------------------------------------- formats


def _read_jsonl(stream: IO[bytes], uri: str, name: str, config: SourceConfig) -> Iterator[Item]:
    limit = config.max_record_bytes
    lineno = 0
    while line := stream.readline(limit + 1):
        lineno += 1
        location = f"line {lineno}"
        if len(line) > limit and not line.endswith(b"\n"):
            size = len(line)
            while rest := stream.readline(1 << 20):  # skip the rest of the line, a megabyte at a time
                size += len(rest)
                if rest.endswith(b"\n"):
                    break
            yield SourceIssue(uri, location, f"record is {size:,} bytes, over max_record_bytes={limit:,}",
                              _excerpt(line[:_EXCERPT_CHARS]))
            continue
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        # Invalid UTF-8 bytes become lone surrogates (U+DC80..U+DCFF): the record still parses,
        # and validation quarantines it naming the field and the byte.
        text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield SourceIssue(uri, location, f"malformed JSON: {json_error(exc)}", _excerpt(line))
            continue
        if not isinstance(obj, dict):
            yield SourceIssue(uri, location, f"expected a JSON object, got {_type_name(obj)}", _excerpt(line))
            continue
        yield record_from(obj, uri, location, config.kind)


class _JsonArrayScanner:
    """Walks a JSON array element by element over a text stream, never holding more than one
    element (at most ``max_chars``) plus a read chunk."""

    _WS = re.compile(r"[ \t\r\n]*")
    _STRING_STOP = re.compile(r'["\\]')
    _VALUE_STOP = re.compile(r'[\[\]{}",]')

    def __init__(self, text: IO[str], max_chars: int) -> None:
        self.text, self.max_chars = text, max_chars
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder()

    def more(self) -> bool:
        chunk = self.text.read(_CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end)."""
        while True:
            self.pos = self._WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def decode(self) -> tuple[Any, int] | json.JSONDecodeError | None:
        """(value, size) for the element at pos; a decode error; or None when it exceeds max_chars."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or len(self.buf) - self.pos > self.max_chars:
                    return None if len(self.buf) - self.pos > self.max_chars else exc
                self.more()
                continue
            if end == len(self.buf) and not self.eof and self.more():
                continue  # a number or literal may go on in the next chunk
            size = end - self.pos
            self.pos = end
            return (value, size) if size <= self.max_chars else None

    def skip_element(self) -> int | None:
        """Skip one (bad) element, keeping no more than a chunk; its size, or None at end of file."""
        depth, in_string, size = 0, False, 0
        while True:
            if self.pos >= len(self.buf):
                size += len(self.buf) - self.pos
                self.buf, self.pos = "", 0
                if not self.more():
                    return None
            if in_string:
                m = self._STRING_STOP.search(self.buf, self.pos)
                if m is None:
                    size += len(self.buf) - self.pos
                    self.pos = len(self.buf)
                    continue
                if m.group() == "\\":
                    if m.end() >= len(self.buf) and not self.more():
                        return None
                    size += m.end() + 1 - self.pos
                    self.pos = m.end() + 1
                    continue
                in_string = False
                size += m.end() - self.pos
                self.pos = m.end()
                continue
            m = self._VALUE_STOP.search(self.buf, self.pos)
            if m is None:
                size += len(self.buf) - self.pos
                self.pos = len(self.buf)
                continue
            ch = m.group()
            if ch in ",]" and depth == 0:
                size += m.start() - self.pos
                self.pos = m.start()
                return size
            size += m.end() - self.pos
            self.pos = m.end()
            if ch == '"':
                in_string = True
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1


def _read_json_array(stream: IO[bytes], uri: str, name: str, config: SourceConfig) -> Iterator[Item]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape")
    scan = _JsonArrayScanner(text, config.max_record_bytes)
    first = scan.peek()
    if first == "":
        return
    if first != "[":
        yield SourceIssue(uri, "file", f"expected a JSON array of objects, the file starts with {first!r}",
                          _excerpt(scan.buf[scan.pos:scan.pos + _EXCERPT_CHARS]))
        return
    scan.pos += 1
    index = 0
    while True:
        ch = scan.peek()
        if ch == "]":
            scan.pos += 1
            if scan.peek() != "":
                yield SourceIssue(uri, f"after record {index}", "extra data after the closing ']'")
            return
        if ch == "":
            yield SourceIssue(uri, f"after record {index}", "unexpected end of file: the array is not closed")
            return
        if index:
            if ch != ",":
                yield SourceIssue(uri, f"after record {index}", f"expected ',' or ']', found {ch!r}; "
                                                                "the rest of the file is skipped")
                return
            scan.pos += 1
            if scan.peek() == "]":
                yield SourceIssue(uri, f"after record {index}", "trailing comma before ']'")
                continue
        index += 1
        location = f"record {index}"
        start_excerpt = _excerpt(scan.buf[scan.pos:scan.pos + _EXCERPT_CHARS])
        result = scan.decode()
        if isinstance(result, tuple):
            obj, _ = result
            if isinstance(obj, dict):
                yield record_from(obj, uri, location, config.kind)
            else:
                yield SourceIssue(uri, location, f"expected a JSON object, got {_type_name(obj)}", start_excerpt)
            continue
        size = scan.skip_element()
        if size is None:
            yield SourceIssue(uri, location, "malformed JSON: the record is not closed before the end of the "
                                             "file", start_excerpt)
            return
        if result is None:
            yield SourceIssue(uri, location, f"record is about {size:,} bytes, over max_record_bytes="
                                             f"{config.max_record_bytes:,}", start_excerpt)
        else:
            yield SourceIssue(uri, location, f"malformed JSON: {json_error(result, column=False)}", start_excerpt)


def _read_csv(stream: IO[bytes], uri: str, name: str, config: SourceConfig) -> Iterator[Item]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(max(previous_limit, config.max_record_bytes))  # restored below
    try:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            yield SourceIssue(uri, "line 1", f"malformed CSV header: {exc}")
            return
        if not header or not any(h.strip() for h in header):
            return
        columns = [h.strip() for h in header]
        failed_at = -1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if reader.line_num == failed_at:  # the reader is stuck: nothing more can be read
                    return
                failed_at = reader.line_num
                yield SourceIssue(uri, f"line {reader.line_num}", f"malformed CSV: {exc}")
                continue
            location = f"line {reader.line_num}"
            if not row or not any(v.strip() for v in row):
                continue
            if len(row) != len(columns):
                yield SourceIssue(uri, location, f"row has {len(row)} fields, the header has {len(columns)}",
                                  _excerpt(",".join(row)))
                continue
            size = sum(len(v) for v in row)
            if size > config.max_record_bytes:
                yield SourceIssue(uri, location, f"record is about {size:,} bytes, over max_record_bytes="
                                                 f"{config.max_record_bytes:,}", _excerpt(",".join(row)))
                continue
            # CSV cannot tell an empty cell from a missing one: both mean "no value".
            obj = {c: (v if v != "" else None) for c, v in zip(columns, row, strict=True)}
            yield record_from(obj, uri, location, config.kind)
    finally:
        csv.field_size_limit(previous_limit)


def _value_size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(_value_size(v) for v in value.values())
    if isinstance(value, list):
        return sum(_value_size(v) for v in value)
    return 8


def _read_parquet(stream: IO[bytes], uri: str, name: str, config: SourceConfig) -> Iterator[Item]:
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        yield SourceIssue(uri, "file", f"not a readable Parquet file: {exc}")
        return
    row = 0
    batches = parquet.iter_batches(batch_size=1_024)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            yield SourceIssue(uri, f"after row {row}", f"unreadable Parquet data: {exc}; the rest is skipped")
            return
        for obj in batch.to_pylist():
            row += 1
            location = f"row {row}"
            size = _value_size(obj)
            if size > config.max_record_bytes:
                yield SourceIssue(uri, location, f"record is about {size:,} bytes, over max_record_bytes="
                                                 f"{config.max_record_bytes:,}")
                continue
            yield record_from(obj, uri, location, config.kind)


def _read_text_document(stream: IO[bytes], uri: str, name: str, config: SourceConfig) -> Iterator[Item]:
    """A .txt or .md file is one document; its title is the first Markdown heading or the file name."""
    if config.kind == "instruction":
        yield SourceIssue(uri, "file", "a .txt/.md file is one document, but kind='instruction' was asked for")
        return
    data = stream.read(config.max_record_bytes + 1)
    if len(data) > config.max_record_bytes:
        yield SourceIssue(uri, "file", f"document is over max_record_bytes={config.max_record_bytes:,}")
        return
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", "surrogateescape")
    if not text.strip():
        return
    title = Path(name).stem
    if Path(name).suffix.lower() in (".md", ".markdown"):
        heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
        if heading:
            title = heading.group(1)
    yield Record("document", {"title": title, "text": text}, uri, "file")


# --------------------------------------------------------------------------- HTTP(S)


def _format_of_response(url: str, content_type: str) -> Format | None:
    fmt = format_of(httpx.URL(url).path)
    if fmt:
        return fmt
    return CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())


def _retry_delay(response: httpx.Response | None, attempt: int, backoff_s: float) -> float:
    if response is not None:
        after = response.headers.get("retry-after", "")
        if after.isdigit():
            return min(float(after), 60.0)
    return backoff_s * 2 ** (attempt - 1)


def download(url: str, sink: IO[bytes], config: SourceConfig,
             entry: ManifestEntry | None = None) -> str | SourceIssue:
    """GET ``url`` into ``sink`` with retries and a size cap; its content type, or an issue."""
    attempts = config.http_retries + 1
    failure = ""
    with httpx.Client(timeout=config.http_timeout_s, follow_redirects=True) as client:
        for attempt in range(1, attempts + 1):
            sink.seek(0)
            sink.truncate()
            response = None
            try:
                with client.stream("GET", url) as response:
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        failure = f"HTTP {status} {response.reason_phrase}"
                    elif status >= 400:
                        return SourceIssue(url, "request", f"HTTP {status} {response.reason_phrase}")
                    else:
                        return _receive(response, sink, config, entry)
            except TRANSIENT_ERRORS as exc:
                kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                failure = f"{kind} ({type(exc).__name__}, timeout {config.http_timeout_s:g} s)"
            except httpx.HTTPError as exc:
                return SourceIssue(url, "request", f"request failed: {type(exc).__name__}: {exc}")
            if attempt < attempts:
                time.sleep(_retry_delay(response, attempt, config.http_backoff_s))
    return SourceIssue(url, "request", f"{failure}; gave up after {attempts} attempt(s)")


def _receive(response: httpx.Response, sink: IO[bytes], config: SourceConfig,
             entry: ManifestEntry | None) -> str | SourceIssue:
    cap = config.max_download_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return SourceIssue(str(response.url), "response",
                           f"the server announces {int(declared):,} bytes, over max_download_bytes={cap:,}")
    digest = hashlib.sha256()
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > cap:
            return SourceIssue(str(response.url), "response",
                               f"response is over max_download_bytes={cap:,}; stopped reading")
        digest.update(chunk)
        sink.write(chunk)
    if entry is not None:
        entry.sha256, entry.bytes = digest.hexdigest(), total
    sink.seek(0)
    return response.headers.get("content-type", "")


def _read_url(url: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    entry = new_manifest_entry(manifest, url, format_of(httpx.URL(url).path) or "http")
    yield from tracked(entry, _url_items(url, config, entry))


def _url_items(url: str, config: SourceConfig, entry: ManifestEntry | None) -> Iterator[Item]:
    # Spooled: small responses stay in memory, large ones go to a temporary file.
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        got = download(url, spool, config, entry)
        if isinstance(got, SourceIssue):
            yield got
            return
        fmt = _format_of_response(url, got)
        if fmt is None:
            yield SourceIssue(url, "response", f"cannot tell the format: no known extension in the URL path and "
                                               f"content type {got or '(none)'!r}")
            return
        if entry is not None:
            entry.format = fmt
        yield from parse_stream(spool, fmt, url, Path(httpx.URL(url).path).name or "download", config)


# --------------------------------------------------------------------------- Hugging Face datasets on disk


def is_saved_hf_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``Dataset(Dict).save_to_disk``."""
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file())


def _sha256_tree(root: Path, entry: ManifestEntry | None) -> None:
    if entry is None:
        return
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\x00")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                entry.bytes += len(chunk)
    entry.sha256 = digest.hexdigest()


def _read_hf_dataset(path: Path, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    uri = f"{HF_PREFIX}{path}"
    entry = new_manifest_entry(manifest, uri, "hf-dataset")
    yield from tracked(entry, _hf_items(path, uri, config, entry))


def _hf_items(path: Path, uri: str, config: SourceConfig, entry: ManifestEntry | None) -> Iterator[Item]:
    import datasets  # heavy import, only when a dataset is read

    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as exc:
        yield SourceIssue(uri, "dataset", f"cannot load the saved dataset: {exc}")
        return
    _sha256_tree(path, entry)
    splits = list(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
    for split, dataset in splits:
        row = 0
        for columns in dataset.iter(batch_size=1_024):
            names = list(columns)
            for values in zip(*(columns[n] for n in names), strict=True):
                row += 1
                location = f"split {split}, row {row}" if split else f"row {row}"
                obj = dict(zip(names, values, strict=True))
                size = _value_size(obj)
                if size > config.max_record_bytes:
                    yield SourceIssue(uri, location, f"record is about {size:,} bytes, over max_record_bytes="
                                                     f"{config.max_record_bytes:,}")
                    continue
                yield record_from(obj, uri, location, config.kind)
