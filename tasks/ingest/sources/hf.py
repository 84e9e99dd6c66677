"""hf:<dir> sources: a dataset written by `Dataset(Dict).save_to_disk`, read row by row, every split."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from tasks.ingest.records import SourceIssue
from tasks.ingest.sources.base import (
    HF_PREFIX,
    Item,
    ManifestEntry,
    SourceConfig,
    new_manifest_entry,
    record_from,
    tracked,
    value_size,
)


def is_saved_hf_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``Dataset(Dict).save_to_disk``."""
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    )


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


def read_hf_dataset(path: Path, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
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
                size = value_size(obj)
                if size > config.max_record_bytes:
                    yield SourceIssue(
                        uri,
                        location,
                        f"record is about {size:,} bytes, over max_record_bytes={config.max_record_bytes:,}",
                    )
                    continue
                yield record_from(obj, uri, location, config.kind)
