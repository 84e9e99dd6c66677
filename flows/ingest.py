"""Ingestion: sources → raw records committed to lakeFS before any processing."""

from __future__ import annotations

from prefect import flow

from tasks.ingest import PYTHON_DOCS_URI, RawRef, SourceConfig
from tasks.ingest.tasks import ingest_sources


@flow(name="ingest", log_prints=True, persist_result=True)
def ingest_flow(sources: list[str] | None = None, source_config: SourceConfig | None = None) -> RawRef:
    """Read files, folders, URLs or saved HF datasets (default: Python's own docs) into a raw lakeFS commit."""
    return ingest_sources(sources or [PYTHON_DOCS_URI], source_config or SourceConfig())
