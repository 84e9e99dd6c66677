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

Every record comes out with an id: its own, or one derived from its content (``ContentIds`` in
``tasks.ingest.records``, over the whole read), never from its file or line.

Pass a list as ``manifest=`` to any of them to collect a ``ManifestEntry`` per concrete source
(file, URL, dataset, and each folder: what it skipped), and paths as ``exclude=`` that a folder
source must never read (a run's state and work folders; see ``files``).

One module per source kind: ``files`` (paths and folders), ``http``, ``hf`` (saved datasets) and
``python_docs``; ``formats`` parses a stream, ``base`` holds what they share.

Files are read as streams: JSONL line by line, JSON arrays element by element, CSV row by row,
Parquet in row batches, so memory stays bounded by ``max_record_bytes`` and the batch size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tasks.ingest.records import ContentIds, SourceIssue
from tasks.ingest.sources.base import (
    EXTENSIONS,
    HF_PREFIX,
    PYTHON_DOCS_URI,
    RUN_OUTPUT_MARKER,
    Format,
    Item,
    ManifestEntry,
    SourceConfig,
    SourceManifest,
    batched,
    json_error,
    limited,
    mark_run_output,
    new_manifest_entry,
    record_from,
    tracked,
    with_ids,
)
from tasks.ingest.sources.files import read_path
from tasks.ingest.sources.formats import parse_stream
from tasks.ingest.sources.hf import is_saved_hf_dataset, read_hf_dataset
from tasks.ingest.sources.http import download, read_url

__all__ = [
    "EXTENSIONS",
    "PYTHON_DOCS_URI",
    "RUN_OUTPUT_MARKER",
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
    "mark_run_output",
    "new_manifest_entry",
    "parse_stream",
    "read_batches",
    "read_source",
    "read_sources",
    "record_from",
    "tracked",
]


def read_source(
    uri: str | Path,
    config: SourceConfig | None = None,
    *,
    manifest: list[ManifestEntry] | None = None,
    exclude: Iterable[str | Path] = (),
) -> Iterator[Item]:
    """Records and issues from one URI, in input order (see the module docstring for URI forms)."""
    config = config or SourceConfig()
    yield from with_ids(_read_one(uri, config, manifest, _resolved(exclude)), ContentIds())


def _resolved(paths: Iterable[str | Path]) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser().resolve() for p in paths)


def _read_one(
    uri: str | Path, config: SourceConfig, manifest: list[ManifestEntry] | None, exclude: tuple[Path, ...]
) -> Iterator[Item]:
    """One URI's items as its adapter yields them (no ids added)."""
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
    yield from limited(read_path(Path(text), text, config, manifest, exclude), config.limit)


def read_sources(
    uris: Iterable[str | Path],
    config: SourceConfig | None = None,
    *,
    manifest: list[ManifestEntry] | None = None,
    exclude: Iterable[str | Path] = (),
) -> Iterator[Item]:
    """Records and issues from several URIs in order; ``config.limit`` counts over all of them.

    Content ids are numbered over all of them, so the same record in two files gets two ids."""
    config = config or SourceConfig()
    per_source = config.model_copy(update={"limit": None})
    excluded = _resolved(exclude)
    items = (item for uri in uris for item in _read_one(uri, per_source, manifest, excluded))
    yield from limited(with_ids(items, ContentIds()), config.limit)


def read_batches(
    uris: Iterable[str | Path],
    config: SourceConfig | None = None,
    *,
    manifest: list[ManifestEntry] | None = None,
    exclude: Iterable[str | Path] = (),
) -> Iterator[list[Item]]:
    """``read_sources`` in lists of ``config.batch_size`` records (issues ride along uncounted)."""
    config = config or SourceConfig()
    yield from batched(read_sources(uris, config, manifest=manifest, exclude=exclude), config.batch_size)


def build_manifest(
    uris: Iterable[str | Path], config: SourceConfig | None = None, *, exclude: Iterable[str | Path] = ()
) -> SourceManifest:
    """Read every source once, keep nothing but the manifest (checksums, counts, skipped files, times)."""
    entries: list[ManifestEntry] = []
    for _ in read_sources(uris, config, manifest=entries, exclude=exclude):
        pass
    return SourceManifest(entries=entries)
