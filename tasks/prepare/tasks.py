"""Prefect tasks of the prepare stage: thin wrappers over tasks/prepare/publish.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from tasks.ingest import RawRef, new_workdir
from tasks.prepare.pipeline import PrepConfig
from tasks.prepare.publish import DataPolicyError, DatasetRef, prepare_commit
from tasks.prepare.report import PrepReport
from tasks.shared.tasks import commit_url, flow_run_metadata, lakefs_repository, transient_only


def _publish(report: PrepReport | None, dataset: DatasetRef | None, settings: Any) -> None:
    if report is not None:
        create_markdown_artifact(key="data-report", markdown=report.to_markdown())
    if dataset is not None:
        if report is None:
            create_markdown_artifact(
                key="data-report",
                markdown=f"# Data report\n\nReused dataset `{dataset.tag}` (same raw commit and config): "
                f"commit `{dataset.commit[:12]}`, counts {dataset.counts}.\n",
            )
        create_link_artifact(
            key="data-commit",
            link=commit_url(settings, dataset.repository, dataset.commit),
            link_text=f"lakeFS dataset commit {dataset.commit[:12]} ({dataset.tag})",
        )


@task(
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
    # the same raw commit and prep config always give the same dataset (see tasks/prepare/publish.py)
    cache_key_fn=lambda _ctx, p: f"prepare-{p['raw'].commit}-{p['config'].config_hash()}",
    persist_result=True,
)
def prepare_dataset_version(raw: RawRef, config: PrepConfig) -> DatasetRef:
    """Validate, normalize, redact, dedupe, filter and split a raw commit; publish it on main."""
    client, _, settings = lakefs_repository()
    with new_workdir() as workdir:
        try:
            dataset, report = prepare_commit(client, raw, config, flow_run=flow_run_metadata(), workdir=Path(workdir))
        except DataPolicyError as exc:
            _publish(exc.report, None, settings)
            raise
    _publish(report, dataset, settings)
    return dataset
