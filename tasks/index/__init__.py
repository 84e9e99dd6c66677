"""The index stage: a dataset's corpus → chunks → embeddings → a validated Milvus collection, blue/green.

    chunking.py   documents to overlapping chunks
    build.py      IndexConfig, the rebuild beside the live collection, validation, retention, rollback
    tasks.py      the Prefect task over `rebuild_index`

Other stages use what this file exports; the alias calls themselves are `tasks.services.milvus`.
"""

from tasks.index.build import (
    IndexConfig,
    IndexResult,
    IndexValidationError,
    collection_name,
    rebuild_index,
    rollback,
    validate_collection,
)
from tasks.index.chunking import Chunk, chunk_documents

__all__ = [
    "Chunk",
    "IndexConfig",
    "IndexResult",
    "IndexValidationError",
    "chunk_documents",
    "collection_name",
    "rebuild_index",
    "rollback",
    "validate_collection",
]
