"""Blue/green index rebuilds against the Milvus Lite server of the local stack."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

from llmops import clients
from llmops.settings import Settings
from tasks import index
from tasks.index import IndexConfig, IndexValidationError
from tasks.services import milvus

pytestmark = pytest.mark.integration

TOPICS = [
    "sorting lists",
    "reading files",
    "regular expressions",
    "http requests",
    "json encoding",
    "date arithmetic",
    "thread pools",
    "unit testing",
    "path handling",
    "string formatting",
]


def docs(version: int, n: int = 40) -> list[dict[str, str]]:
    return [
        {
            "id": f"doc-{i}",
            "title": TOPICS[i % 10],
            "text": f"Version {version}. Notes {i} about {TOPICS[i % 10]}. "
            + " ".join(f"w{i}x{j}" for j in range(150)),
        }
        for i in range(n)
    ]


def hash_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """Deterministic bag-of-words vectors: chunks of one document share their words."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.split():
            out[row, hash(word) % dim] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture
def config() -> IndexConfig:
    return IndexConfig(alias=f"a_{uuid.uuid4().hex[:8]}", chunk_size=300, chunk_overlap=50, validation_sample=20)


def test_rebuild_swaps_the_alias_only_after_validation_and_reruns_are_no_ops(
    running_stack: Settings, config: IndexConfig
) -> None:
    client = clients.milvus_client(running_stack)
    seen_alias_during_validation = []

    def watching_validate(*args, **kwargs):
        seen_alias_during_validation.append(milvus.alias_target(client, config.alias))
        return index.validate_collection(*args, **kwargs)

    first = index.rebuild_index(
        client,
        docs(1),
        lakefs_commit="a" * 64,
        flow_run="fr-1",
        config=config,
        embed=hash_embed,
        validate=watching_validate,
    )
    assert first.swapped and seen_alias_during_validation == [None]
    chunks = list(index.chunk_documents(docs(1), config.chunk_size, config.chunk_overlap))
    assert first.rows == len(chunks) and first.self_recall is not None and first.self_recall >= 0.9
    meta = milvus.read_metadata(client, first.collection)
    assert meta["lakefs_commit"] == "a" * 64 and meta["flow_run"] == "fr-1"

    second = index.rebuild_index(
        client,
        docs(2),
        lakefs_commit="b" * 64,
        flow_run="fr-2",
        config=config,
        embed=hash_embed,
        validate=watching_validate,
    )
    assert seen_alias_during_validation[-1] == first.collection  # old one served until validated
    assert milvus.alias_target(client, config.alias) == second.collection
    assert second.previous == first.collection

    again = index.rebuild_index(
        client, docs(2), lakefs_commit="b" * 64, flow_run="fr-3", config=config, embed=hash_embed
    )
    assert again.skipped and again.collection == second.collection

    assert index.rollback(client, config.alias) == (second.collection, first.collection)
    assert milvus.alias_target(client, config.alias) == first.collection
    hits = milvus.search(client, config.alias, hash_embed([chunks[0].text]), top_k=3)
    assert hits[0][0]["doc_id"] == chunks[0].doc_id and "Version 1" in hits[0][0]["text"]


def test_a_rebuild_that_fails_validation_leaves_the_alias_on_the_old_collection(
    running_stack: Settings, config: IndexConfig
) -> None:
    client = clients.milvus_client(running_stack)
    good = index.rebuild_index(client, docs(1), lakefs_commit="c" * 64, flow_run="fr", config=config, embed=hash_embed)

    def scrambled_embed(texts: list[str]) -> np.ndarray:  # vectors unrelated to the text
        return np.random.default_rng(0).normal(size=(len(texts), 64)).astype(np.float32)

    def search_with_other_vectors(client_, name, chunks, vectors, cfg):
        return index.validate_collection(client_, name, chunks, hash_embed([c.text for c in chunks]), cfg)

    with pytest.raises(IndexValidationError, match="sampled chunks found their document"):
        index.rebuild_index(
            client,
            docs(3),
            lakefs_commit="d" * 64,
            flow_run="fr",
            config=config,
            embed=scrambled_embed,
            validate=search_with_other_vectors,
        )
    assert milvus.alias_target(client, config.alias) == good.collection
    assert not client.has_collection(index.collection_name("d" * 64, config))


def test_queries_during_a_rebuild_all_succeed(running_stack: Settings, config: IndexConfig) -> None:
    client = clients.milvus_client(running_stack)
    index.rebuild_index(client, docs(1), lakefs_commit="e" * 64, flow_run="fr", config=config, embed=hash_embed)
    query = hash_embed(["notes about json encoding"])
    results: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def query_loop() -> None:
        reader = clients.milvus_client(running_stack)
        while not stop.is_set():
            try:
                results.append(len(milvus.search(reader, config.alias, query, top_k=5)[0]))
            except Exception as exc:
                errors.append(exc)

    thread = threading.Thread(target=query_loop)
    thread.start()
    try:
        index.rebuild_index(
            client, docs(2, n=80), lakefs_commit="f" * 64, flow_run="fr", config=config, embed=hash_embed
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    assert len(results) >= 5 and all(n == 5 for n in results)


def test_old_collections_beyond_retention_are_dropped_but_never_an_aliased_one(running_stack: Settings) -> None:
    client = clients.milvus_client(running_stack)
    cfg = IndexConfig(
        alias=f"a_{uuid.uuid4().hex[:8]}", chunk_size=300, chunk_overlap=50, retention=2, validation_sample=10
    )
    built = [
        index.rebuild_index(
            client,
            docs(v, n=10),
            lakefs_commit=f"{v}" * 64 + uuid.uuid4().hex,
            flow_run="fr",
            config=cfg,
            embed=hash_embed,
        ).collection
        for v in range(1, 5)
    ]
    collections = set(client.list_collections())
    assert built[-1] in collections and built[-2] in collections
    assert built[0] not in collections and built[1] not in collections
