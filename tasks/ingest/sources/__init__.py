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

One module per source kind: ``files`` (paths and folders), ``http``, ``hf`` (saved datasets) and
``python_docs``; ``formats`` parses a stream, ``base`` holds what they share.

Files are read as streams: JSONL line by line, JSON arrays element by element, CSV row by row,
Parquet in row batches, so memory stays bounded by ``max_record_bytes`` and the batch size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tasks.ingest.records import SourceIssue
from tasks.ingest.sources.base import (
    EXTENSIONS,
    HF_PREFIX,
    PYTHON_DOCS_URI,
    Format,
    Item,
    ManifestEntry,
    SourceConfig,
    SourceManifest,
    batched,
    json_error,
    limited,
    new_manifest_entry,
    record_from,
    tracked,
)
from tasks.ingest.sources.files import read_path
from tasks.ingest.sources.formats import parse_stream
from tasks.ingest.sources.hf import is_saved_hf_dataset, read_hf_dataset
from tasks.ingest.sources.http import download, read_url

__all__ = [
    "EXTENSIONS",
    "PYTHON_DOCS_URI",
    "Format",
    "Item",
    "ManifestEntry",
    "SourceConfig",
    "SourceManifest",
    "batched",
    "build_manifest",
    "download",
    "is_saved_hf_dataset",
    "json_error",
    "new_manifest_entry",
    "parse_stream",
    "read_batches",
    "read_source",
    "read_sources",
    "record_from",
    "tracked",
]


def read_source(
    uri: str | Path, config: SourceConfig | None = None, *, manifest: list[ManifestEntry] | None = None
) -> Iterator[Item]:
    """Records and issues from one URI, in input order (see the module docstring for URI forms)."""
    config = config or SourceConfig()
    text = str(uri)
    if text in (PYTHON_DOCS_URI, "python-docs"):
        from tasks.ingest.sources.python_docs import read_python_docs

        yield from limited(read_python_docs(config, manifest=manifest), config.limit)
        return
    if text.startswith(("http://", "https://")):
        yield from limited(read_url(text, config, manifest), config.limit)
        return
    if text.startswith(HF_PREFIX):
        yield from limited(read_hf_dataset(Path(text[len(HF_PREFIX) :]), config, manifest), config.limit)
        return
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", text):
        yield SourceIssue(
            text, "uri", f"unsupported URI scheme (use a path, http(s)://, hf:<dir> or {PYTHON_DOCS_URI})"
        )
        return
    yield from limited(read_path(Path(text), text, config, manifest), config.limit)


def read_sources(
    uris: Iterable[str | Path], config: SourceConfig | None = None, *, manifest: list[ManifestEntry] | None = None
) -> Iterator[Item]:
    """Records and issues from several URIs in order; ``config.limit`` counts over all of them."""
    config = config or SourceConfig()
    per_source = config.model_copy(update={"limit": None})
    items = (item for uri in uris for item in read_source(uri, per_source, manifest=manifest))
    yield from limited(items, config.limit)


def read_batches(
    uris: Iterable[str | Path], config: SourceConfig | None = None, *, manifest: list[ManifestEntry] | None = None
) -> Iterator[list[Item]]:
    """``read_sources`` in lists of ``config.batch_size`` records (issues ride along uncounted)."""
    config = config or SourceConfig()
    yield from batched(read_sources(uris, config, manifest=manifest), config.batch_size)


def build_manifest(uris: Iterable[str | Path], config: SourceConfig | None = None) -> SourceManifest:
    """Read every source once, keep nothing but the manifest (checksums, counts, times)."""
    entries: list[ManifestEntry] = []
    for _ in read_sources(uris, config, manifest=entries):
        pass
    return SourceManifest(entries=entries)
