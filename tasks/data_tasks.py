"""Prefect tasks of the data stages: thin wrappers over tasks/datasets.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from llmops import clients
from llmops.settings import load_settings
from tasks import datasets
from tasks.data.prepare import PrepConfig
from tasks.data.report import PrepReport
from tasks.data.sources import SourceConfig
from tasks.prefect_support import flow_run_metadata, transient_only


def _client_and_repo() -> tuple[Any, str, Any]:
    settings = load_settings()
    client = clients.lakefs_client(settings)
    datasets.ensure_repository(client, settings.lakefs.repository)
    return client, settings.lakefs.repository, settings


def commit_url(settings: Any, repository: str, commit: str) -> str:
    """Where a person can look at a commit: lakeFS's UI, or the API of the local server (it has no UI)."""
    if settings.lakefs.managed:
        return f"{settings.lakefs.api_url}/repositories/{repository}/commits/{commit}"
    return f"{settings.lakefs.base_url}/repositories/{repository}/commits/{commit}"


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=transient_only)
def ingest_sources(sources: list[str], config: SourceConfig) -> datasets.RawRef:
    """Read the sources and commit their records, as read, with a manifest to a lakeFS run branch."""
    client, repository, settings = _client_and_repo()
    with datasets.new_workdir() as workdir:
        raw, manifest = datasets.ingest_raw(client, repository, sources, config, flow_run=flow_run_metadata(),
                                            workdir=Path(workdir))
    rows = "\n".join(f"| {e.uri} | {e.format} | {e.records} | {e.issues} | `{e.sha256[:12]}` |" for e in manifest.entries)
    create_markdown_artifact(
        key="raw-manifest",
        markdown=(f"# Ingestion\n\n{raw.records} records, {raw.issues} source issues, commit `{raw.commit[:12]}`"
                  f"{' (reused: same content as before)' if raw.reused else ''}\n\n"
                  f"| source | format | records | issues | sha256 |\n|---|---|---|---|---|\n{rows}\n"),
    )
    create_link_artifact(key="raw-commit", link=commit_url(settings, repository, raw.commit),
                         link_text=f"lakeFS raw commit {raw.commit[:12]}")
    return raw


def _publish(report: PrepReport | None, dataset: datasets.DatasetRef | None, settings: Any) -> None:
    if report is not None:
        create_markdown_artifact(key="data-report", markdown=report.to_markdown())
    if dataset is not None:
        if report is None:
            create_markdown_artifact(
                key="data-report",
                markdown=f"# Data report\n\nReused dataset `{dataset.tag}` (same raw commit and config): "
                         f"commit `{dataset.commit[:12]}`, counts {dataset.counts}.\n")
        create_link_artifact(key="data-commit", link=commit_url(settings, dataset.repository, dataset.commit),
                             link_text=f"lakeFS dataset commit {dataset.commit[:12]} ({dataset.tag})")


@task(
    retries=2, retry_delay_seconds=5, retry_condition_fn=transient_only,
    # the same raw commit and prep config always give the same dataset (see datasets.prepare_commit)
    cache_key_fn=lambda _ctx, p: f"prepare-{p['raw'].commit}-{p['config'].config_hash()}",
    persist_result=True,
)
def prepare_dataset_version(raw: datasets.RawRef, config: PrepConfig) -> datasets.DatasetRef:
    """Validate, normalize, redact, dedupe, filter and split a raw commit; publish it on main."""
    client, _, settings = _client_and_repo()
    with datasets.new_workdir() as workdir:
        try:
            dataset, report = datasets.prepare_commit(client, raw, config, flow_run=flow_run_metadata(),
                                                      workdir=Path(workdir))
        except datasets.DataPolicyError as exc:
            _publish(exc.report, None, settings)
            raise
    _publish(report, dataset, settings)
    return dataset
