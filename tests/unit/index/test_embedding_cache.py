"""The embedding cache: each text embedded once per model, vectors returned in order, models kept apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.index import EmbeddingCache, model_key


class _Counting:
    """A stand-in embedder (a hash of the text as its vector) that records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.asked.append(list(texts))
        return np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(4) for t in texts]).astype(
            np.float32
        )


def test_a_rebuild_embeds_only_new_or_changed_texts(tmp_path: Path) -> None:
    embedder = _Counting()
    cache = EmbeddingCache(tmp_path, "m-fp32")
    first = cache.embed(["a", "b", "c", "b"], embedder)
    assert embedder.asked == [["a", "b", "c"]]  # "b" twice, embedded once
    assert np.array_equal(first[1], first[3])

    again = EmbeddingCache(tmp_path, "m-fp32")  # another process, the same file
    second = again.embed(["c", "a", "d"], embedder)
    assert embedder.asked[-1] == ["d"] and (again.hits, again.misses) == (2, 1)
    assert np.array_equal(second[0], first[2]) and np.array_equal(second[1], first[0])
    assert np.array_equal(second[2], embedder(["d"])[0])


def test_another_model_or_precision_reads_none_of_the_vectors(tmp_path: Path) -> None:
    model = tmp_path / "all-MiniLM-L6-v2"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"x" * 10)
    fp32, bf16 = model_key(str(model), "fp32"), model_key(str(model), "bf16")
    assert fp32 != bf16 and fp32.startswith("all-MiniLM-L6-v2-")
    (model / "model.safetensors").write_bytes(b"x" * 11)  # other weights
    assert model_key(str(model), "fp32") != fp32

    embedder = _Counting()
    EmbeddingCache(tmp_path / "cache", fp32).embed(["a"], embedder)
    EmbeddingCache(tmp_path / "cache", bf16).embed(["a"], embedder)
    assert embedder.asked == [["a"], ["a"]]
