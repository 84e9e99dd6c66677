"""Prefect tasks of the smoke flow: thin wrappers over tasks/smoke/__init__.py."""

from __future__ import annotations

from prefect import task

from llmops.settings import Settings
from tasks import smoke


@task(retries=2, retry_delay_seconds=2)
def log_mlflow_metric(settings: Settings) -> tuple[str, float]:
    """Log a metric to an MLflow run and read it back."""
    return smoke.log_mlflow_metric(settings)


@task(retries=2, retry_delay_seconds=2)
def milvus_roundtrip(settings: Settings) -> int:
    """Insert vectors into Milvus and find one by search."""
    return smoke.milvus_roundtrip(settings)
