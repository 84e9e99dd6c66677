"""Parsing one stream in a known format: JSONL line by line, JSON arrays element by element, CSV row by
row, Parquet in row batches, and .txt/.md files as one document each; memory stays bounded."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.ingest.records import Record, SourceIssue
from tasks.ingest.sources.base import (
    EXCERPT_CHARS,
    Format,
    Item,
    SourceConfig,
    excerpt,
    json_error,
    record_from,
    type_name,
    value_size,
)

_SNIFF_BYTES = 8_192
_CHUNK_CHARS = 1 << 16


def parse_stream(stream: IO[bytes], fmt: Format, uri: str, name: str, config: SourceConfig) -> Iterator[Item]:
    """Records and issues from a seekable binary stream in a known format."""
    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    if not head:
        yield SourceIssue(uri, "file", "empty file")
        return
    if fmt == "parquet":
        if not head.startswith(b"PAR1"):
            yield SourceIssue(uri, "file", "not a Parquet file (no PAR1 magic bytes)", excerpt(head[:40]))
            return
    elif b"\x00" in head:
        yield SourceIssue(
            uri,
            "file",
            f"binary file: NUL bytes in the first {_SNIFF_BYTES:,} bytes, not {fmt} text (only UTF-8 text is read)",
        )
        return
    readers = {
        "jsonl": _read_jsonl,
        "json": _read_json_array,
        "csv": _read_csv,
        "parquet": _read_parquet,
        "text": _read_text_document,
    }
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
            yield SourceIssue(
                uri,
                location,
                f"record is {size:,} bytes, over max_record_bytes={limit:,}",
                excerpt(line[:EXCERPT_CHARS]),
            )
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
            yield SourceIssue(uri, location, f"malformed JSON: {json_error(exc)}", excerpt(line))
            continue
        if not isinstance(obj, dict):
            yield SourceIssue(uri, location, f"expected a JSON object, got {type_name(obj)}", excerpt(line))
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
        self.buf = self.buf[self.pos :] + chunk
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
        yield SourceIssue(
            uri,
            "file",
            f"expected a JSON array of objects, the file starts with {first!r}",
            excerpt(scan.buf[scan.pos : scan.pos + EXCERPT_CHARS]),
        )
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
                yield SourceIssue(
                    uri, f"after record {index}", f"expected ',' or ']', found {ch!r}; the rest of the file is skipped"
                )
                return
            scan.pos += 1
            if scan.peek() == "]":
                yield SourceIssue(uri, f"after record {index}", "trailing comma before ']'")
                continue
        index += 1
        location = f"record {index}"
        start_excerpt = excerpt(scan.buf[scan.pos : scan.pos + EXCERPT_CHARS])
        result = scan.decode()
        if isinstance(result, tuple):
            obj, _ = result
            if isinstance(obj, dict):
                yield record_from(obj, uri, location, config.kind)
            else:
                yield SourceIssue(uri, location, f"expected a JSON object, got {type_name(obj)}", start_excerpt)
            continue
        size = scan.skip_element()
        if size is None:
            yield SourceIssue(
                uri, location, "malformed JSON: the record is not closed before the end of the file", start_excerpt
            )
            return
        if result is None:
            yield SourceIssue(
                uri,
                location,
                f"record is about {size:,} bytes, over max_record_bytes={config.max_record_bytes:,}",
                start_excerpt,
            )
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
                yield SourceIssue(
                    uri, location, f"row has {len(row)} fields, the header has {len(columns)}", excerpt(",".join(row))
                )
                continue
            size = sum(len(v) for v in row)
            if size > config.max_record_bytes:
                yield SourceIssue(
                    uri,
                    location,
                    f"record is about {size:,} bytes, over max_record_bytes={config.max_record_bytes:,}",
                    excerpt(",".join(row)),
                )
                continue
            # CSV cannot tell an empty cell from a missing one: both mean "no value".
            obj = {c: (v if v != "" else None) for c, v in zip(columns, row, strict=True)}
            yield record_from(obj, uri, location, config.kind)
    finally:
        csv.field_size_limit(previous_limit)


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
            size = value_size(obj)
            if size > config.max_record_bytes:
                yield SourceIssue(
                    uri, location, f"record is about {size:,} bytes, over max_record_bytes={config.max_record_bytes:,}"
                )
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
