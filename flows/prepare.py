"""Preparation: a raw commit → validated, redacted, deduplicated, split datasets merged into main."""

from __future__ import annotations

from prefect import flow

from tasks.ingest import RawRef
from tasks.prepare import DatasetRef, PrepConfig
from tasks.prepare.tasks import prepare_dataset_version


@flow(name="prepare", log_prints=True, persist_result=True)
def prepare_flow(raw: RawRef, prep_config: PrepConfig | None = None) -> DatasetRef:
    """Prepare a raw commit and publish the dataset version on lakeFS main (tagged)."""
    return prepare_dataset_version(raw, prep_config or PrepConfig())
