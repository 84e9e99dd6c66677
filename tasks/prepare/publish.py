"""Publishing a prepared dataset on lakeFS: a raw commit in, a `DatasetRef` on the protected main branch out.

    prepare_commit  read a raw commit back, run `tasks.prepare.pipeline.prepare_dataset`, upload the
                    Parquet files, quarantine and report, commit; merge into the protected main
                    branch only when the policy passes, and tag `data-<raw>-<config>`
    read_split      a split's Parquet files back, at the dataset's commit

Content-addressed through the tag: the same raw commit and prep config give the same `DatasetRef`,
with no new commit. No Prefect here.
"""

from __future__ import annotations

import json
from pathlib import Path

import lakefs
import pandas as pd
from lakefs.client import Client
from pydantic import BaseModel

from llmops.errors import LLMOpsError
from tasks.ingest import RAW_RECORDS, RawRef, read_raw_batches, tag_commit
from tasks.prepare.pipeline import PrepConfig, prepare_dataset
from tasks.prepare.report import PrepReport
from tasks.services import lakefs as versioning

MAIN = "main"
DATA_DIRS = ("prepared/", "corpus/", "quarantine/", "reports/")


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
        super().__init__(
            f"data policy failed: {report.decision.reason}; main unchanged, the rejected data and its "
            f"quarantine are on branch {branch!r} at commit {commit[:12]}"
        )


def dataset_tag(raw_commit: str, config: PrepConfig) -> str:
    return f"data-{raw_commit[:12]}-{config.config_hash()[:12]}"


def find_dataset(client: Client, raw: RawRef, config: PrepConfig) -> DatasetRef | None:
    """The dataset already prepared from this raw commit with this config, if any."""
    commit = tag_commit(client, raw.repository, dataset_tag(raw.commit, config))
    if commit is None:
        return None
    return DatasetRef.model_validate({**json.loads(commit.metadata["llmops.dataset_ref"]), "commit": commit.id})


def dataset_ref_at(client: Client, repository: str, ref: str) -> DatasetRef:
    """The DatasetRef of a prepared dataset (its commit id or a prefix, or its `data-...` tag): the short
    form `llmops run train --dataset` and the other stages take."""
    try:
        commit = lakefs.Reference(repository, ref, client=client).get_commit()
    except lakefs.exceptions.NotFoundException:
        raise LLMOpsError(f"no commit {ref!r} in repository {repository!r}; `llmops run prepare` prints one") from None
    if "llmops.dataset_ref" not in (commit.metadata or {}):
        raise LLMOpsError(
            f"commit {commit.id[:12]} of {repository!r} is not a prepared dataset; give the commit or tag "
            "`llmops run prepare` printed"
        )
    return DatasetRef.model_validate({**json.loads(commit.metadata["llmops.dataset_ref"]), "commit": commit.id})


def _clear_branch_data(client: Client, repository: str, branch: str) -> None:
    """Remove the previous version's data files so only this run's outputs remain."""
    ref = lakefs.Branch(repository, branch, client=client)
    for prefix in DATA_DIRS:
        paths = [obj.path for obj in ref.objects(prefix=prefix)]
        if paths:
            ref.delete_objects(paths)


def prepare_commit(
    client: Client, raw: RawRef, config: PrepConfig, *, flow_run: dict[str, str], workdir: Path
) -> tuple[DatasetRef, PrepReport | None]:
    """Prepare the raw commit and publish it on main; an existing identical version is returned as is.

    Returns (dataset, report); report is None when the version already existed.
    Raises DataPolicyError (after committing the rejected data on the run branch) when the policy fails.
    """
    existing = find_dataset(client, raw, config)
    if existing is not None:
        return existing, None

    raw_file = versioning.download_file(
        client, versioning.LakeFSURI(raw.repository, raw.commit, raw.records_path), workdir / RAW_RECORDS
    )
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

    counts = {
        "train": report.rows("train"),
        "eval": report.rows("eval"),
        "corpus": report.rows("corpus"),
        "quarantined": report.quarantined,
        "source_issues": report.source_issues,
    }
    steps = {f"llmops.step.{s.name}": json.dumps({"in": s.records_in, "out": s.records_out}) for s in report.steps}
    metadata = {
        "llmops.stage": "prepare",
        "llmops.raw_commit": raw.commit,
        "llmops.config_hash": config.config_hash(),
        "llmops.counts": json.dumps(counts),
        "llmops.redactions": json.dumps(report.redactions),
        "llmops.policy": "passed" if report.decision.proceed else "failed",
        **steps,
        **flow_run,
    }
    committed = versioning.commit(
        client,
        raw.repository,
        branch,
        f"prepare {counts['train']} train / {counts['eval']} eval / {counts['corpus']} docs",
        metadata=metadata,
    )
    if not report.decision.proceed:
        raise DataPolicyError(report, branch, committed.commit_id)

    dataset = DatasetRef(
        repository=raw.repository,
        commit="",
        raw_commit=raw.commit,
        config_hash=config.config_hash(),
        tag=tag,
        train=uploaded["train"],
        eval=uploaded["eval"],
        corpus=uploaded["corpus"],
        report="reports/data_report.json",
        counts=counts,
    )
    merged = versioning.merge_into(
        client,
        raw.repository,
        branch,
        MAIN,
        message=f"publish dataset {tag}",
        metadata={**metadata, "llmops.dataset_ref": dataset.model_dump_json(exclude={"commit"})},
    )
    dataset = dataset.model_copy(update={"commit": merged.commit_id})
    # The tag's commit carries the dataset ref (minus its own id, which cannot be known before).
    versioning.tag(client, raw.repository, tag, merged.commit_id, exist_ok=True)
    lakefs.Branch(raw.repository, branch, client=client).delete()
    return dataset, report


def read_split(client: Client, dataset: DatasetRef, paths: list[str]) -> pd.DataFrame:
    """The Parquet files of a split, read at the dataset's commit."""
    return versioning.read_dataframes(client, dataset.repository, dataset.commit, paths)
