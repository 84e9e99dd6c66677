"""http(s):// sources: one GET with retries on transient failures and a size cap, then parsed by format."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from tasks.ingest.records import SourceIssue
from tasks.ingest.sources.base import (
    Format,
    Item,
    ManifestEntry,
    SourceConfig,
    format_of,
    new_manifest_entry,
    tracked,
)
from tasks.ingest.sources.formats import parse_stream

CONTENT_TYPES: dict[str, Format] = {
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "text/plain": "text",
    "text/markdown": "text",
}
# Statuses worth another try: the server is overloaded, rate-limits us, or failed transiently.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


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


def download(url: str, sink: IO[bytes], config: SourceConfig, entry: ManifestEntry | None = None) -> str | SourceIssue:
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


def _receive(
    response: httpx.Response, sink: IO[bytes], config: SourceConfig, entry: ManifestEntry | None
) -> str | SourceIssue:
    cap = config.max_download_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return SourceIssue(
            str(response.url),
            "response",
            f"the server announces {int(declared):,} bytes, over max_download_bytes={cap:,}",
        )
    digest = hashlib.sha256()
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > cap:
            return SourceIssue(
                str(response.url), "response", f"response is over max_download_bytes={cap:,}; stopped reading"
            )
        digest.update(chunk)
        sink.write(chunk)
    if entry is not None:
        entry.sha256, entry.bytes = digest.hexdigest(), total
    sink.seek(0)
    return response.headers.get("content-type", "")


def read_url(url: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
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
            yield SourceIssue(
                url,
                "response",
                f"cannot tell the format: no known extension in the URL path and content type {got or '(none)'!r}",
            )
            return
        if entry is not None:
            entry.format = fmt
        yield from parse_stream(spool, fmt, url, Path(httpx.URL(url).path).name or "download", config)
