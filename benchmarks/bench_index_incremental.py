"""Incremental index rebuilds: a rebuild after changing 1% of the documents, against a full rebuild.

Side by side in one run, against a Milvus Lite server this script starts on a free port, on the
built-in Python-docs documents (`--docs` of them; not written here):

1. full: `rebuild_index` of the corpus with an empty embedding cache (every chunk embedded), the
   index stage's path as `make run` takes it the first time;
2. incremental: 1% of the documents changed (`--changed`, at least one: a sentence put before each,
   which moves every chunk boundary of the document, so all its chunks are new),
   rebuilt into a new collection with the cache the full build filled (only their chunks embedded);
3. reference: the same changed corpus rebuilt with no cache at all (every chunk embedded again).

Reported: wall seconds of each whole rebuild and of its embedding phase, the ratio incremental/full
(goal: at most 0.1), the chunks embedded in each, and whether the incremental collection serves
the same retrieval as the reference: recall@10 of its top-10 against the reference's for
`--queries` queries taken from the corpus (titles, first sentences of paragraphs). The vectors
are the same model's on the same text, so anything below 1.0 comes from HNSW build order or
batch arithmetic.

    python benchmarks/bench_index_incremental.py [--out results.json] [--docs 200] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import numpy as np
from pymilvus import MilvusClient

from benchmarks.bench_index import load_corpus, start_server
from infra import processes
from tasks.index import EmbeddingCache, IndexConfig, model_key, rebuild_index
from tasks.services.embedding import default_model_path, embed, resolve_precision
from tasks.services.milvus import search

TOP_K = 10


def rebuild(client: MilvusClient, docs: list[dict], commit: str, config: IndexConfig, cache: EmbeddingCache | None):
    embedded = [0]

    def plain(texts: list[str]) -> np.ndarray:
        embedded[0] += len(texts)
        return embed(texts, batch_size=config.embed_batch_size, precision=config.embedding_precision)

    embed_fn = plain if cache is None else (lambda texts: cache.embed(texts, plain))
    t0 = time.perf_counter()
    result = rebuild_index(client, docs, lakefs_commit=commit, flow_run="bench", config=config, embed=embed_fn)
    wall = time.perf_counter() - t0
    return result, {
        "collection": result.collection,
        "chunks": result.rows,
        "embedded": embedded[0],
        "wall_s": round(wall, 2),
        "embed_s": round(result.seconds["embed"], 2),
        "phases_s": {k: round(v, 2) for k, v in result.seconds.items()},
    }


def changed_corpus(docs: list[dict], n: int) -> list[dict]:
    step = max(1, len(docs) // n)
    picked = set(range(0, len(docs), step)[:n])
    return [
        {**d, "text": "This section was revised for the incremental rebuild benchmark.\n\n" + d["text"]}
        if i in picked
        else d
        for i, d in enumerate(docs)
    ]


def query_texts(docs: list[dict], n: int) -> list[str]:
    """Queries from the corpus itself: each document's title, then the first sentence of each paragraph."""
    queries = [str(d["title"]) for d in docs if d.get("title")]
    for d in docs:
        queries += [p.split(". ")[0][:200] for p in str(d["text"]).split("\n\n") if len(p) > 40]
    return list(dict.fromkeys(queries))[:n]


def top_ids(client: MilvusClient, collection: str, vectors: np.ndarray) -> list[list[int]]:
    found = search(client, collection, vectors, TOP_K)
    return [[int(h["id"]) for h in hits] for hits in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out")
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--changed", type=float, default=0.01, help="Share of documents changed.")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    docs, _ = load_corpus(args.docs, 0)
    queries = query_texts(docs, args.queries)
    n_changed = max(1, math.ceil(len(docs) * args.changed))
    changed = changed_corpus(docs, n_changed)
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as scratch:
        root = Path(scratch)
        server, uri = start_server(root)
        try:
            client = MilvusClient(uri=uri)
            config = IndexConfig(alias="bench_incremental", retention=5)
            key = model_key(default_model_path(), resolve_precision(config.embedding_precision))
            cache = EmbeddingCache(root / "embeddings", key)
            _, full = rebuild(client, docs, "full0000", config, cache)
            print(
                f"full rebuild:        {full['wall_s']:7.1f} s ({full['embedded']} of {full['chunks']} chunks embedded)"
            )
            incremental_result, incremental = rebuild(client, changed, "incr0000", config, cache)
            print(
                f"incremental rebuild: {incremental['wall_s']:7.1f} s "
                f"({incremental['embedded']} of {incremental['chunks']} chunks embedded)"
            )
            _, reference = rebuild(client, changed, "refr0000", config, None)
            print(f"reference (no cache):{reference['wall_s']:7.1f} s ({reference['embedded']} chunks embedded)")

            query_vectors = embed(queries, precision=config.embedding_precision)
            ours = top_ids(client, incremental["collection"], query_vectors)
            theirs = top_ids(client, reference["collection"], query_vectors)
            recall = float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(ours, theirs, strict=True)]))
        finally:
            processes.stop(server)

    ratio = incremental["wall_s"] / full["wall_s"]
    embed_ratio = incremental["embed_s"] / full["embed_s"] if full["embed_s"] else None
    report = {
        "benchmark": "index_incremental",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "docs": len(docs),
        "changed_docs": n_changed,
        "full": full,
        "incremental": incremental,
        "reference_no_cache": reference,
        "ratio_incremental_over_full": round(ratio, 3),
        "embed_ratio_incremental_over_full": round(embed_ratio, 3) if embed_ratio is not None else None,
        "goal_ratio": 0.1,
        "meets_goal": ratio <= 0.1,
        "recall_at_10_vs_reference": round(recall, 4),
        "queries": len(queries),
        "incremental_self_recall": incremental_result.self_recall,
    }
    print(
        f"\nratio incremental/full: {ratio:.3f} (goal <= 0.1: {'met' if ratio <= 0.1 else 'NOT met'}); "
        f"embedding phase alone {embed_ratio:.3f}; recall@10 of the incremental index against the reference "
        f"{recall:.4f} over {len(queries)} queries"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
