"""Prefect tasks of the ingest stage: thin wrappers over tasks/ingest/raw.py."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from tasks.ingest.raw import RawRef, ingest_raw, new_workdir
from tasks.ingest.sources import SourceConfig
from tasks.shared.tasks import commit_url, flow_run_metadata, lakefs_repository, transient_only


def _counts(by_extension: dict[str, int]) -> str:
    return ", ".join(f"{n} {extension}" for extension, n in by_extension.items())


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=transient_only)
def ingest_sources(sources: list[str], config: SourceConfig) -> RawRef:
    """Read the sources and commit their records, as read, with a manifest to a lakeFS run branch."""
    client, repository, settings = lakefs_repository()
    with new_workdir() as workdir:
        raw, manifest = ingest_raw(
            client,
            repository,
            sources,
            config,
            flow_run=flow_run_metadata(),
            workdir=Path(workdir),
            exclude=[settings.storage.state_dir],  # the stack's own files, should a folder source hold them
        )
    rows = "\n".join(
        f"| {e.uri} | {e.format} | {e.records} | {e.issues} | {_counts(e.skipped)} | `{e.sha256[:12]}` |"
        for e in manifest.entries
    )
    skipped = sum(manifest.skipped.values())
    create_markdown_artifact(
        key="raw-manifest",
        markdown=(
            f"# Ingestion\n\n{raw.records} records, {raw.issues} source issues, commit `{raw.commit[:12]}`"
            f"{' (reused: same content as before)' if raw.reused else ''}\n\n"
            + (f"{skipped} files without records skipped: {_counts(manifest.skipped)}\n\n" if skipped else "")
            + f"| source | format | records | issues | skipped | sha256 |\n|---|---|---|---|---|---|\n{rows}\n"
        ),
    )
    create_link_artifact(
        key="raw-commit",
        link=commit_url(settings, repository, raw.commit),
        link_text=f"lakeFS raw commit {raw.commit[:12]}",
    )
    return raw
