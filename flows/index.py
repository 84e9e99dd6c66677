"""Retrieval index: a DatasetRef's corpus → a validated Milvus collection, blue/green behind an alias."""

from __future__ import annotations

from prefect import flow

from tasks.index import IndexConfig, IndexResult
from tasks.index.tasks import build_index
from tasks.prepare import DatasetRef


@flow(name="index", log_prints=True, persist_result=True)
def index_flow(dataset: DatasetRef, index_config: IndexConfig | None = None, swap: bool = True) -> IndexResult:
    """Rebuild the index from the corpus at the dataset's commit; move the serving alias after validation."""
    return build_index(dataset, index_config or IndexConfig(), swap)
