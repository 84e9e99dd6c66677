"""Ingestion: sources → raw records committed to lakeFS before any processing."""

from __future__ import annotations

from prefect import flow

from tasks.data.sources import PYTHON_DOCS_URI, SourceConfig
from tasks.data_tasks import ingest_sources
from tasks.datasets import RawRef


@flow(name="ingest", log_prints=True)
def ingest_flow(sources: list[str] | None = None, source_config: SourceConfig | None = None) -> RawRef:
    """Read files, folders, URLs or saved HF datasets (default: Python's own docs) into a raw lakeFS commit."""
    return ingest_sources(sources or [PYTHON_DOCS_URI], source_config or SourceConfig())
