"""Ingestion and preparation on lakeFS: raw records committed first, prepared data merged into main.

    ingest_raw      read the sources, write every record and source issue as it was read (JSON
                    lines, gzip) plus the source manifest to a run branch, commit, tag `raw-<hash>`
    prepare_commit  read a raw commit back, run `tasks.data.prepare.prepare_dataset`, upload the
                    Parquet files, quarantine and report, commit; merge into the protected main
                    branch only when the policy passes, and tag `data-<raw>-<config>`

Both are content-addressed through their tags: the same raw bytes give the same raw commit, and
the same raw commit and prep config give the same `DatasetRef`, with no new commit. No Prefect here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lakefs
from lakefs.client import Client
from lakefs.exceptions import NotFoundException
from pydantic import BaseModel

from tasks import versioning
from tasks.data.prepare import PrepConfig, prepare_dataset
from tasks.data.report import PrepReport
from tasks.data.schemas import Record, SourceIssue
from tasks.data.sources import SourceConfig, SourceManifest, read_batches

MAIN = "main"
RAW_RECORDS = "records.jsonl.gz"
DATA_DIRS = ("prepared/", "corpus/", "quarantine/", "reports/")


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


class DatasetRef(BaseModel):
    """A prepared dataset version: what later stages receive instead of data."""

    repository: str
    commit: str  # a commit on main holding the files below
    raw_commit: str
    config_hash: str
    tag: str
    train: list[str]
    eval: list[str]
    corpus: list[str]
    report: str
    counts: dict[str, int]

    def uri(self, path: str) -> str:
        return str(versioning.LakeFSURI(self.repository, self.commit, path))


class DataPolicyError(RuntimeError):
    """The prepared data did not pass the policy; main was not touched (the run branch keeps it)."""

    def __init__(self, report: PrepReport, branch: str, commit: str) -> None:
        self.report, self.branch, self.commit = report, branch, commit
        super().__init__(f"data policy failed: {report.decision.reason}; main unchanged, the rejected data and its "
                         f"quarantine are on branch {branch!r} at commit {commit[:12]}")


def ensure_repository(client: Client, repository: str, storage_namespace: str | None = None) -> None:
    versioning.ensure_repository(client, repository, storage_namespace or f"local://{repository}")


def _tag_commit(client: Client, repository: str, tag: str) -> lakefs.Commit | None:
    try:
        return lakefs.Reference(repository, tag, client=client).get_commit()
    except NotFoundException:
        return None


def _item_json(item: Record | SourceIssue) -> dict[str, Any]:
    if isinstance(item, Record):
        return {"item": "record", "kind": item.kind, "fields": item.fields, "uri": item.uri,
                "location": item.location}
    return {"item": "issue", "uri": item.uri, "location": item.location, "reason": item.reason,
            "excerpt": item.excerpt}


def _item_from_json(data: dict[str, Any]) -> Record | SourceIssue:
    if data["item"] == "record":
        return Record(kind=data["kind"], fields=data["fields"], uri=data["uri"], location=data["location"])
    return SourceIssue(data["uri"], data["location"], data["reason"], data.get("excerpt", ""))


def write_raw_records(sources: list[str], config: SourceConfig, path: Path) -> tuple[SourceManifest, int, int, str]:
    """Stream every record and issue the sources yield into a gzip JSON-lines file.

    Returns (manifest, records, issues, sha256 of the uncompressed lines).
    """
    entries: list = []
    digest = hashlib.sha256()
    records = issues = 0
    # mtime=0: the same content gives the same compressed bytes
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        for batch in read_batches(sources, config, manifest=entries):
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
    """The raw file back as batches of records and issues, in the order they were read."""
    batch: list[Record | SourceIssue] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            batch.append(_item_from_json(json.loads(line)))
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def ingest_raw(client: Client, repository: str, sources: list[str], config: SourceConfig, *,
               flow_run: dict[str, str], workdir: Path) -> tuple[RawRef, SourceManifest]:
    """Commit the sources' records as read, with their manifest, before any processing."""
    records_file = workdir / RAW_RECORDS
    manifest, records, issues, sha = write_raw_records(sources, config, records_file)
    tag = f"raw-{sha[:16]}"
    prefix = f"raw/{sha[:16]}/"
    existing = _tag_commit(client, repository, tag)
    if existing is not None:
        return RawRef(repository=repository, commit=existing.id, prefix=prefix, records=records, issues=issues,
                      content_sha256=sha, reused=True), manifest

    branch = f"ingest-{sha[:12]}"
    versioning.create_run_branch(client, repository, branch, source=MAIN, exist_ok=True)
    manifest_file = workdir / "manifest.json"
    manifest_file.write_text(json.dumps({"sources": sources, "content_sha256": sha, "records": records,
                                         "issues": issues, **json.loads(manifest.model_dump_json())}, indent=2))
    versioning.upload_file(client, versioning.LakeFSURI(repository, branch, prefix + RAW_RECORDS), records_file,
                           content_type="application/gzip")
    versioning.upload_file(client, versioning.LakeFSURI(repository, branch, prefix + "manifest.json"),
                           manifest_file, content_type="application/json")
    result = versioning.commit(client, repository, branch, f"ingest {records} records from {len(sources)} source(s)",
                               metadata={"llmops.stage": "ingest", "llmops.content_sha256": sha,
                                         "llmops.records": str(records), "llmops.issues": str(issues),
                                         "llmops.sources": json.dumps(sources)[:4000],
                                         "llmops.ingested_at": datetime.now(UTC).isoformat(), **flow_run})
    versioning.tag(client, repository, tag, result.commit_id, exist_ok=True)
    return RawRef(repository=repository, commit=result.commit_id, prefix=prefix, records=records, issues=issues,
                  content_sha256=sha), manifest


def dataset_tag(raw_commit: str, config: PrepConfig) -> str:
    return f"data-{raw_commit[:12]}-{config.config_hash()[:12]}"


def find_dataset(client: Client, raw: RawRef, config: PrepConfig) -> DatasetRef | None:
    """The dataset already prepared from this raw commit with this config, if any."""
    commit = _tag_commit(client, raw.repository, dataset_tag(raw.commit, config))
    if commit is None:
        return None
    return DatasetRef.model_validate({**json.loads(commit.metadata["llmops.dataset_ref"]), "commit": commit.id})


def _clear_branch_data(client: Client, repository: str, branch: str) -> None:
    """Remove the previous version's data files so only this run's outputs remain."""
    ref = lakefs.Branch(repository, branch, client=client)
    for prefix in DATA_DIRS:
        paths = [obj.path for obj in ref.objects(prefix=prefix)]
        if paths:
            ref.delete_objects(paths)


def prepare_commit(client: Client, raw: RawRef, config: PrepConfig, *, flow_run: dict[str, str],
                   workdir: Path) -> tuple[DatasetRef, PrepReport | None]:
    """Prepare the raw commit and publish it on main; an existing identical version is returned as is.

    Returns (dataset, report); report is None when the version already existed.
    Raises DataPolicyError (after committing the rejected data on the run branch) when the policy fails.
    """
    existing = find_dataset(client, raw, config)
    if existing is not None:
        return existing, None

    raw_file = versioning.download_file(
        client, versioning.LakeFSURI(raw.repository, raw.commit, raw.records_path), workdir / RAW_RECORDS)
    out = workdir / "prepared-out"
    report = prepare_dataset(read_raw_batches(raw_file, batch_size=1_000), config, out)

    tag = dataset_tag(raw.commit, config)
    branch = f"prepare-{raw.commit[:12]}-{config.config_hash()[:12]}"
    versioning.create_run_branch(client, raw.repository, branch, source=raw.commit, exist_ok=True)
    _clear_branch_data(client, raw.repository, branch)
    uploaded: dict[str, list[str]] = {"train": [], "eval": [], "corpus": []}
    for output in report.outputs:
        versioning.upload_file(client, versioning.LakeFSURI(raw.repository, branch, output.path), out / output.path)
        if output.kind in uploaded:
            uploaded[output.kind].append(output.path)
    for name in ("quarantine/quarantine.jsonl",):
        if (out / name).is_file():
            versioning.upload_file(client, versioning.LakeFSURI(raw.repository, branch, name), out / name)
    for name, target in (("report.json", "reports/data_report.json"), ("report.md", "reports/data_report.md")):
        versioning.upload_file(client, versioning.LakeFSURI(raw.repository, branch, target), out / name)

    counts = {"train": report.rows("train"), "eval": report.rows("eval"), "corpus": report.rows("corpus"),
              "quarantined": report.quarantined, "source_issues": report.source_issues}
    steps = {f"llmops.step.{s.name}": json.dumps({"in": s.records_in, "out": s.records_out}) for s in report.steps}
    metadata = {"llmops.stage": "prepare", "llmops.raw_commit": raw.commit, "llmops.config_hash": config.config_hash(),
                "llmops.counts": json.dumps(counts), "llmops.redactions": json.dumps(report.redactions),
                "llmops.policy": "passed" if report.decision.proceed else "failed", **steps, **flow_run}
    committed = versioning.commit(client, raw.repository, branch,
                                  f"prepare {counts['train']} train / {counts['eval']} eval / {counts['corpus']} docs",
                                  metadata=metadata)
    if not report.decision.proceed:
        raise DataPolicyError(report, branch, committed.commit_id)

    dataset = DatasetRef(repository=raw.repository, commit="", raw_commit=raw.commit,
                         config_hash=config.config_hash(), tag=tag, train=uploaded["train"], eval=uploaded["eval"],
                         corpus=uploaded["corpus"], report="reports/data_report.json", counts=counts)
    merged = versioning.merge_into(
        client, raw.repository, branch, MAIN,
        message=f"publish dataset {tag}",
        metadata={**metadata, "llmops.dataset_ref": dataset.model_dump_json(exclude={"commit"})},
    )
    dataset = dataset.model_copy(update={"commit": merged.commit_id})
    # The tag's commit carries the dataset ref (minus its own id, which cannot be known before).
    versioning.tag(client, raw.repository, tag, merged.commit_id, exist_ok=True)
    lakefs.Branch(raw.repository, branch, client=client).delete()
    return dataset, report


def new_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="llmops-data-")
