"""The index stage: a dataset's corpus → chunks → embeddings → a validated Milvus collection, blue/green.

    chunking.py   documents to overlapping chunks
    embedding_cache.py  vectors by (chunk text, embedding model): a rebuild embeds only what changed
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
from tasks.index.embedding_cache import EmbeddingCache, model_key

__all__ = [
    "Chunk",
    "EmbeddingCache",
    "IndexConfig",
    "IndexResult",
    "IndexValidationError",
    "chunk_documents",
    "collection_name",
    "model_key",
    "rebuild_index",
    "rollback",
    "validate_collection",
]
