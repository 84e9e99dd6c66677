"""Embeddings kept by (chunk content, embedding model): a rebuild embeds only chunks it has not seen.

A corpus commit that changes a few documents changes a few chunks; every other chunk has the same
text and therefore the same vector. `EmbeddingCache` keeps each vector under the sha256 of its
text in a SQLite file per embedding model (the model's directory name, a digest of its weights
file listing, and the precision), so another model or precision never reads these vectors. The
file lives in the state directory, which production pods share. No Prefect here.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tasks.services.embedding import model_fingerprint


def model_key(model_path: str, precision: str) -> str:
    """Names one embedding model and precision: the directory name, a digest of its files, the precision."""
    return f"{Path(model_path).name}-{model_fingerprint(model_path)[:16]}-{precision}"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors of one embedding model by the sha256 of their text, in `<directory>/<model key>.sqlite`."""

    def __init__(self, directory: Path, key: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{key}.sqlite"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, dim INTEGER, vector BLOB)")
        self.hits = self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def embed(self, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors for `texts` in order: cached ones read, the others embedded (once each) and stored."""
        hashes = [text_hash(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock, self._connect() as db:
            unique = list(dict.fromkeys(hashes))
            for start in range(0, len(unique), 900):  # SQLite's limit on bound parameters
                part = unique[start : start + 900]
                rows = db.execute(
                    f"SELECT hash, vector FROM vectors WHERE hash IN ({','.join('?' * len(part))})", part
                ).fetchall()
                found.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
        todo = {h: t for h, t in zip(hashes, texts, strict=True) if h not in found}
        if todo:
            fresh = np.asarray(embed(list(todo.values())), dtype=np.float32)
            with self._lock, self._connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO vectors (hash, dim, vector) VALUES (?, ?, ?)",
                    [(h, fresh.shape[1], v.tobytes()) for h, v in zip(todo, fresh, strict=True)],
                )
            found.update(zip(todo, fresh, strict=True))
        self.hits += len(texts) - sum(1 for h in hashes if h in todo)
        self.misses += len(todo)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[h] for h in hashes])
