"""Embeddings per second: ONNX Runtime (fp32, and dynamically quantised int8) against the torch path we use.

Side by side in one run, on chunks of the built-in Python-docs documents (`--docs` of them; not
written here) and queries taken from them (titles, first sentences of paragraphs):

- torch: `tasks.services.embedding.embed`, sentence-transformers' `encode` of all-MiniLM-L6-v2 at
  the index's default precision on this machine (bf16 where the CPU has it natively, else fp32),
  batch 64; on a bf16 machine also in fp32, for the speed an AVX2-only machine would compare;
- onnx fp32: the product's ONNX path (`tasks.services.onnx_embedding`): the same transformer
  exported with `torch.onnx.export`, run by `onnxruntime` with sentence-transformers' own steps
  around it (the model's tokenizer truncated at its max_seq_length, batches of 64 in order of
  length, mean pooling over the attention mask, unit length);
- onnx int8: that graph quantised by `onnxruntime.quantization.quantize_dynamic` (int8 weights,
  activations quantised per batch at run time).

`optimum` (what sentence-transformers' `backend="onnx"` loads) pins transformers below 4.58, and
the project runs transformers 5, so the export and the pooling are done here directly.

Reported: chunks embedded per second (the best of `--repeats`, each variant warmed first), the
cosine of each ONNX vector to the torch vector of the same text (mean and minimum), and recall@10:
the share of the top-10 chunks by exact cosine search for each query, with both sides embedded by
that variant, that are also in the torch top-10 (goal >= 0.99 to use a variant in place of torch).

    pip install onnxruntime onnx && python benchmarks/bench_embed_onnx.py [--out results.json] [--docs 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from benchmarks.bench_index import load_corpus
from benchmarks.bench_index_incremental import query_texts
from tasks.index import IndexConfig, chunk_documents
from tasks.services import onnx_embedding
from tasks.services.embedding import embed, load_embedder, resolve_precision

BATCH = 64
TOP_K = 10


class OnnxEmbedder:
    """The product's ONNX path (`tasks.services.onnx_embedding`) on a graph of the benchmark's choosing."""

    def __init__(self, path: Path) -> None:
        self.session, self.st = onnx_embedding.open_session(path), load_embedder()

    def __call__(self, texts: list[str]) -> np.ndarray:
        return onnx_embedding.embed_with_session(self.session, self.st, texts, BATCH)


def rate(fn, texts: list[str], repeats: int) -> tuple[float, np.ndarray]:
    fn(texts[:BATCH])  # warm
    best, vectors = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        vectors = fn(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best, vectors


def top_k(chunks: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.argsort(-(queries @ chunks.T), axis=1)[:, :TOP_K]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out")
    parser.add_argument("--docs", type=int, default=60)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    try:
        import onnxruntime  # noqa: F401
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        sys.exit("needs onnxruntime and onnx: pip install onnxruntime onnx")

    docs, _ = load_corpus(args.docs, 0)
    config = IndexConfig()
    texts = [c.text for c in chunk_documents(docs, config.chunk_size, config.chunk_overlap)]
    queries = query_texts(docs, args.queries)
    precision = resolve_precision(config.embedding_precision)
    report: dict = {
        "benchmark": "embed_onnx",
        "chunks": len(texts),
        "queries": len(queries),
        "torch_precision": precision,
    }

    def torch_embed(batch: list[str]) -> np.ndarray:
        return embed(batch, batch_size=BATCH, precision=config.embedding_precision)

    torch_rate, torch_chunks = rate(torch_embed, texts, args.repeats)
    torch_top = top_k(torch_chunks, torch_embed(queries))
    report["torch"] = {"chunks_per_s": round(torch_rate, 1)}
    print(f"torch ({precision}):  {torch_rate:7.1f} chunks/s")
    if precision != "fp32":  # on a CPU without native bf16 the index embeds in fp32: that baseline too
        fp32_rate, _ = rate(lambda batch: embed(batch, batch_size=BATCH, precision="fp32"), texts, args.repeats)
        report["torch_fp32"] = {"chunks_per_s": round(fp32_rate, 1)}
        print(f"torch (fp32):  {fp32_rate:7.1f} chunks/s")

    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as scratch:
        fp32, int8 = Path(scratch) / "model.onnx", Path(scratch) / "model-int8.onnx"
        onnx_embedding.export(load_embedder(), fp32)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        for name, path in (("onnx_fp32", fp32), ("onnx_int8", int8)):
            embedder = OnnxEmbedder(path)
            speed, vectors = rate(embedder, texts, args.repeats)
            cosine = np.sum(vectors * torch_chunks, axis=1)
            found = top_k(vectors, embedder(queries))
            recall = float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(found, torch_top, strict=True)]))
            report[name] = {
                "chunks_per_s": round(speed, 1),
                "speedup_vs_torch": round(speed / torch_rate, 3),
                "cosine_to_torch_mean": round(float(cosine.mean()), 5),
                "cosine_to_torch_min": round(float(cosine.min()), 5),
                "recall_at_10_vs_torch": round(recall, 4),
                "usable": recall >= 0.99,
            }
            print(
                f"{name}: {speed:7.1f} chunks/s ({speed / torch_rate:.2f}x torch), cosine to torch mean "
                f"{cosine.mean():.5f} min {cosine.min():.5f}, recall@10 vs torch {recall:.4f}"
            )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
