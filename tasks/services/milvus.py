"""The Milvus adapter: collection metadata, aliases and search, the same calls for Milvus Lite and real Milvus.

Collection metadata is written both as the collection description (read by real Milvus) and as
`llmops.*` collection properties (Milvus Lite keeps no description); `read_metadata` reads either.
No Prefect here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pymilvus import MilvusClient


def read_metadata(client: MilvusClient, name: str) -> dict[str, str]:
    info = client.describe_collection(name)
    props = {k.removeprefix("llmops."): v for k, v in (info.get("properties") or {}).items() if k.startswith("llmops.")}
    if props:
        return props
    try:
        return json.loads(info.get("description") or "{}")
    except json.JSONDecodeError:
        return {}


def alias_target(client: MilvusClient, alias: str) -> str | None:
    """The collection `alias` points to, or None (looked up by listing: a miss is not an error)."""
    if alias not in client.list_aliases().get("aliases", []):
        return None
    return client.describe_alias(alias)["collection_name"]


def move_alias(client: MilvusClient, alias: str, collection: str) -> str | None:
    """Point `alias` at `collection` (creating it if needed); return the collection it pointed to."""
    previous = alias_target(client, alias)
    if previous is None:
        client.create_alias(collection, alias)
    elif previous != collection:
        client.alter_alias(collection, alias)
    return previous


def search(client: MilvusClient, alias: str, vectors: np.ndarray, top_k: int) -> list[list[dict[str, Any]]]:
    """Top-k chunks per query vector through the serving alias (or a collection name)."""
    from pymilvus.exceptions import MilvusException

    def run() -> list:
        return client.search(
            alias, data=np.asarray(vectors).tolist(), limit=top_k, output_fields=["doc_id", "title", "text"]
        )

    try:
        results = run()
    except MilvusException as exc:
        if "released" not in str(exc) and "not loaded" not in str(exc):
            raise
        # a restarted Milvus keeps its collections on disk, not in memory: load this one, then search
        try:
            collection = client.describe_alias(alias)["collection_name"]
        except MilvusException:
            collection = alias
        client.load_collection(collection)
        results = run()
    return [[{"id": h["id"], "score": float(h["distance"]), **h["entity"]} for h in hits] for hits in results]


def restore_alias(client: MilvusClient, alias: str, collection: str | None) -> None:
    """Put `alias` back on `collection`, or remove it when it did not exist before (a release's undo)."""
    if collection:
        client.alter_alias(collection, alias)
    else:
        client.drop_alias(alias)
