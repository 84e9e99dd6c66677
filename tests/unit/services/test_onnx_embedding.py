"""The embedder on ONNX Runtime gives the torch embedder's vectors, and `auto` picks it only where it is faster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.services import embedding, onnx_embedding

pytest.importorskip("onnxruntime")  # installed by `make test` (the dev extras include llmops[onnx])

TEXTS = [
    "How do I read a file line by line?",
    "with open(path) as f: for line in f: print(line)",
    "Dictionaries map keys to values; keys must be hashable.",
    "A generator function uses yield to produce a sequence of values lazily.",
    "x" * 3000,  # past the model's max_seq_length: truncated the same way
    "",
]


def test_onnx_vectors_are_the_torch_fp32_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_ONNX_CACHE", str(tmp_path))
    onnx_embedding._sessions.clear()
    reference = embedding.embed(TEXTS, precision="fp32")
    vectors = embedding.embed(TEXTS, precision="onnx", batch_size=4)  # batches in another order than torch's
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(vectors * reference, axis=1)
    assert cosine.min() > 0.9999, cosine
    assert len(list(tmp_path.glob("*.onnx"))) == 1  # exported once, then read back
    onnx_embedding._sessions.clear()
    again = embedding.embed(TEXTS[:2], precision="onnx")
    assert np.allclose(again, vectors[:2], atol=1e-5) and len(list(tmp_path.glob("*"))) == 1


def test_auto_takes_onnx_only_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "native_bf16", lambda: True)
    assert embedding.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(embedding, "native_bf16", lambda: False)
    assert embedding.resolve_precision("auto") == "onnx"
    monkeypatch.setattr(onnx_embedding, "available", lambda: False)
    assert embedding.resolve_precision("auto") == "fp32"
    assert embedding.resolve_precision("fp32") == "fp32"
