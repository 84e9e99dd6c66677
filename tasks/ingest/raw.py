"""Raw ingestion on lakeFS: every record and source issue committed as read, before any processing.

    ingest_raw        read the sources, write every record and issue (JSON lines, gzip) plus the source
                      manifest to a run branch, commit, tag `raw-<content hash>`
    read_raw_batches  the raw file back, as the batches the preparation takes

A record is written as read, with one addition: a record without an id carries its content id
(``tasks.ingest.records.ContentIds``), so the raw commit pins the ids the split is a hash of.

Content-addressed through the tag: the same raw bytes give the same raw commit. No Prefect here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lakefs
from lakefs.client import Client
from lakefs.exceptions import NotFoundException
from pydantic import BaseModel

from llmops.errors import LLMOpsError
from tasks.ingest.records import ContentIds, Record, SourceIssue
from tasks.ingest.sources import SourceConfig, SourceManifest, mark_run_output, read_batches
from tasks.services import lakefs as versioning

MAIN = "main"
RAW_RECORDS = "records.jsonl.gz"


class RawRef(BaseModel):
    """A raw ingestion committed to lakeFS."""

    repository: str
    commit: str
    prefix: str  # raw/<content hash>/
    records: int
    issues: int
    content_sha256: str
    reused: bool = False

    @property
    def records_path(self) -> str:
        return f"{self.prefix}{RAW_RECORDS}"


def tag_commit(client: Client, repository: str, tag: str) -> lakefs.Commit | None:
    try:
        return lakefs.Reference(repository, tag, client=client).get_commit()
    except NotFoundException:
        return None


def _item_json(item: Record | SourceIssue) -> dict[str, Any]:
    if isinstance(item, Record):
        return {"item": "record", "kind": item.kind, "fields": item.fields, "uri": item.uri, "location": item.location}
    return {"item": "issue", "uri": item.uri, "location": item.location, "reason": item.reason, "excerpt": item.excerpt}


def _item_from_json(data: dict[str, Any]) -> Record | SourceIssue:
    if data["item"] == "record":
        return Record(kind=data["kind"], fields=data["fields"], uri=data["uri"], location=data["location"])
    return SourceIssue(data["uri"], data["location"], data["reason"], data.get("excerpt", ""))


def write_raw_records(
    sources: list[str], config: SourceConfig, path: Path, *, exclude: Iterable[str | Path] = ()
) -> tuple[SourceManifest, int, int, str]:
    """Stream every record and issue the sources yield into a gzip JSON-lines file; a folder source
    never reads the folder of ``path`` nor the ``exclude`` paths.

    Returns (manifest, records, issues, sha256 of the uncompressed lines).
    """
    entries: list = []
    digest = hashlib.sha256()
    records = issues = 0
    # mtime=0: the same content gives the same compressed bytes
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        for batch in read_batches(sources, config, manifest=entries, exclude=[path.parent, *exclude]):
            for item in batch:
                # ASCII escapes keep lone surrogates (invalid UTF-8 kept for validation to report) intact
                line = (json.dumps(_item_json(item), ensure_ascii=True, default=str) + "\n").encode()
                digest.update(line)
                out.write(line)
                if isinstance(item, Record):
                    records += 1
                else:
                    issues += 1
    return SourceManifest(entries=entries), records, issues, digest.hexdigest()


def read_raw_batches(path: Path, batch_size: int) -> Iterator[list[Record | SourceIssue]]:
    """The raw file back as batches of records and issues, in the order they were read.

    Raw files written before records carried content ids get them here, numbered the same way."""
    ids = ContentIds()
    batch: list[Record | SourceIssue] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            item = _item_from_json(json.loads(line))
            batch.append(ids.assign(item) if isinstance(item, Record) else item)
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def ingest_raw(
    client: Client,
    repository: str,
    sources: list[str],
    config: SourceConfig,
    *,
    flow_run: dict[str, str],
    workdir: Path,
    exclude: Iterable[str | Path] = (),
) -> tuple[RawRef, SourceManifest]:
    """Commit the sources' records as read, with their manifest, before any processing.

    Folder sources never read ``workdir`` nor the ``exclude`` paths (the state directory)."""
    records_file = workdir / RAW_RECORDS
    manifest, records, issues, sha = write_raw_records(sources, config, records_file, exclude=exclude)
    tag = f"raw-{sha[:16]}"
    prefix = f"raw/{sha[:16]}/"
    existing = tag_commit(client, repository, tag)
    if existing is not None:
        return RawRef(
            repository=repository,
            commit=existing.id,
            prefix=prefix,
            records=records,
            issues=issues,
            content_sha256=sha,
            reused=True,
        ), manifest

    branch = f"ingest-{sha[:12]}"
    versioning.create_run_branch(client, repository, branch, source=MAIN, exist_ok=True)
    manifest_file = workdir / "manifest.json"
    manifest_file.write_text(
        json.dumps(
            {
                "sources": sources,
                "content_sha256": sha,
                "records": records,
                "issues": issues,
                "skipped": manifest.skipped,
                **json.loads(manifest.model_dump_json()),
            },
            indent=2,
        )
    )
    versioning.upload_file(
        client,
        versioning.LakeFSURI(repository, branch, prefix + RAW_RECORDS),
        records_file,
        content_type="application/gzip",
    )
    versioning.upload_file(
        client,
        versioning.LakeFSURI(repository, branch, prefix + "manifest.json"),
        manifest_file,
        content_type="application/json",
    )
    result = versioning.commit(
        client,
        repository,
        branch,
        f"ingest {records} records from {len(sources)} source(s)",
        metadata={
            "llmops.stage": "ingest",
            "llmops.content_sha256": sha,
            "llmops.records": str(records),
            "llmops.issues": str(issues),
            "llmops.sources": json.dumps(sources)[:4000],
            "llmops.ingested_at": datetime.now(UTC).isoformat(),
            **flow_run,
        },
    )
    versioning.tag(client, repository, tag, result.commit_id, exist_ok=True)
    return RawRef(
        repository=repository,
        commit=result.commit_id,
        prefix=prefix,
        records=records,
        issues=issues,
        content_sha256=sha,
    ), manifest


def new_workdir() -> tempfile.TemporaryDirectory[str]:
    """A temporary work folder, marked so that no folder source reads it (not even another run's)."""
    workdir = tempfile.TemporaryDirectory(prefix="llmops-data-")
    mark_run_output(Path(workdir.name))
    return workdir


def raw_ref_at(client: Client, repository: str, ref: str) -> RawRef:
    """The RawRef of an ingest commit (an id, a prefix of one, or a tag): what `llmops run prepare --raw` takes."""
    try:
        commit = lakefs.Reference(repository, ref, client=client).get_commit()
    except NotFoundException:
        raise LLMOpsError(f"no commit {ref!r} in repository {repository!r}; `llmops run ingest` prints one") from None
    meta = commit.metadata or {}
    if meta.get("llmops.stage") != "ingest":
        raise LLMOpsError(
            f"commit {commit.id[:12]} of {repository!r} is not an ingest commit (stage {meta.get('llmops.stage')!r}); "
            "give the commit `llmops run ingest` printed"
        )
    sha = meta["llmops.content_sha256"]
    return RawRef(
        repository=repository,
        commit=commit.id,
        prefix=f"raw/{sha[:16]}/",
        records=int(meta["llmops.records"]),
        issues=int(meta["llmops.issues"]),
        content_sha256=sha,
        reused=True,
    )
