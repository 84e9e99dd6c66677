"""Local files and folders: a folder is read recursively in sorted order, each file by its extension."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tasks.ingest.records import SourceIssue
from tasks.ingest.sources.base import (
    EXTENSIONS,
    Format,
    Item,
    ManifestEntry,
    SourceConfig,
    format_of,
    new_manifest_entry,
    sha256_file,
    tracked,
)
from tasks.ingest.sources.formats import parse_stream
from tasks.ingest.sources.hf import is_saved_hf_dataset, read_hf_dataset


def read_path(path: Path, uri: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    if not path.exists():
        yield SourceIssue(uri, "file", "no such file or folder")
    else:
        yield from _read_entry(path, uri, config, manifest)


def _read_entry(path: Path, uri: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    """A saved Hugging Face dataset, a folder or a file."""
    if path.is_dir():
        if is_saved_hf_dataset(path):
            yield from read_hf_dataset(path, config, manifest)
        else:
            yield from _read_folder(path, config, manifest)
    else:
        yield from _read_file(path, uri, config, manifest)


def _read_folder(folder: Path, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    """Every file below ``folder`` in sorted order; hidden files and folders (``.name``) are skipped."""
    for child in sorted(folder.iterdir()):
        if not child.name.startswith("."):
            yield from _read_entry(child, str(child), config, manifest)


def _read_file(path: Path, uri: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    fmt = format_of(path.name)
    entry = new_manifest_entry(manifest, uri, fmt or "unsupported")
    yield from tracked(entry, _file_items(path, uri, fmt, config, entry))


def _file_items(
    path: Path, uri: str, fmt: Format | None, config: SourceConfig, entry: ManifestEntry | None
) -> Iterator[Item]:
    if fmt is None:
        supported = ", ".join(sorted(EXTENSIONS))
        yield SourceIssue(uri, "file", f"unsupported extension {path.suffix or '(none)'!r} (supported: {supported})")
        return
    try:
        sha256_file(path, entry)
        with path.open("rb") as stream:
            yield from parse_stream(stream, fmt, uri, path.name, config)
    except OSError as exc:
        yield SourceIssue(uri, "file", f"cannot read the file: {exc.strerror or exc}")
