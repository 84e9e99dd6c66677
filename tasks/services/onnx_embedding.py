"""The embedder on ONNX Runtime: the same sentence-transformers model, exported once, fp32.

Measured (benchmarks/bench_embed_onnx.py, all-MiniLM-L6-v2, two cores): ONNX Runtime fp32 embeds
1.25 times as fast as torch fp32 with recall@10 0.997 of torch's neighbours (cosine 0.99998), and
half as fast as torch bf16 on a CPU with native bf16; its int8 quantisation keeps recall@10 only
0.81. So `precision="auto"` takes this path on a CPU without native bf16 when `onnxruntime` is
installed (`pip install llmops[onnx]`), and torch otherwise.

The export (`torch.onnx.export` of the transformer) is written once per model under
`LLMOPS_ONNX_CACHE` (default ~/.cache/llmops/onnx); around the graph run the model's own steps:
its tokenizer truncated at its max_seq_length, batches in order of length, mean pooling over the
attention mask, unit length.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_sessions: dict[str, Any] = {}
_lock = threading.Lock()


def available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def cache_dir() -> Path:
    return Path(os.environ.get("LLMOPS_ONNX_CACHE") or Path.home() / ".cache" / "llmops" / "onnx")


def export(st: Any, path: Path) -> None:
    """Write the transformer of the sentence-transformers model `st` to `path` as an ONNX graph."""
    import torch

    class Transformer(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = st.tokenizer(["an example", "another, longer example sentence"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.onnx.export(
        Transformer(st[0].auto_model.eval()),
        (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
        str(tmp),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
        opset_version=17,
        dynamo=False,
    )
    tmp.replace(path)  # whole or not at all, should two processes export at once


def _session(st: Any, model_path: str, fingerprint: str) -> Any:
    with _lock:
        if model_path not in _sessions:
            path = cache_dir() / f"{Path(model_path).name}-{fingerprint[:20]}.onnx"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                export(st, path)
            _sessions[model_path] = open_session(path)
        return _sessions[model_path]


def open_session(path: Path) -> Any:
    """An ONNX Runtime session on the CPU, with as many threads as torch uses."""
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def embed_onnx(st: Any, model_path: str, fingerprint: str, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Unit-length float32 embeddings of `texts` by the sentence-transformers model `st` on ONNX Runtime.

    `fingerprint` names the model's files (`embedding.model_fingerprint`): the export is kept under it."""
    return embed_with_session(_session(st, model_path, fingerprint), st, texts, batch_size)


def embed_with_session(session: Any, st: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """`embed_onnx` with a session of one's own (another graph of the same model: a quantised one)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), st.get_embedding_dimension()), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        ids = order[start : start + batch_size]
        enc = st.tokenizer(
            [texts[i] for i in ids], padding=True, truncation=True, max_length=st.max_seq_length, return_tensors="np"
        )
        feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = session.run(None, feed)[0]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        out[ids] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return out
