"""Domain objects to the JSON shapes of the lakeFS OpenAPI spec (schemas named in each docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from infra.lakefs_server.blobs import BlobStore
from infra.lakefs_server.changes import Change
from infra.lakefs_server.commits import Commit
from infra.lakefs_server.entries import Entry
from infra.lakefs_server.listing import Page
from infra.lakefs_server.repositories import Repository

T = TypeVar("T")
Json = dict[str, Any]


def repository(repo: Repository) -> Json:
    """Repository"""
    return {
        "id": repo.name,
        "creation_date": repo.creation_date,
        "default_branch": repo.default_branch,
        "storage_namespace": repo.storage_namespace,
        "storage_id": "",  # the one storage of a server with one blockstore, as lakeFS names it
        "read_only": repo.read_only,
    }


def commit(c: Commit) -> Json:
    """Commit"""
    return {
        "id": c.id,
        "parents": list(c.parents),
        "committer": c.committer,
        "message": c.message,
        "creation_date": c.creation_date,
        "meta_range_id": c.tree.id,
        "metadata": c.metadata,
        "generation": c.generation,
        "version": 1,
    }


def ref(name: str, commit_id: str) -> Json:
    """Ref"""
    return {"id": name, "commit_id": commit_id}


def object_stats(path: str, entry: Entry, *, with_metadata: bool = True) -> Json:
    """ObjectStats of an object"""
    stats: Json = {
        "path": path,
        "path_type": "object",
        "physical_address": BlobStore.physical_address(entry.address),
        "checksum": entry.checksum,
        "size_bytes": entry.size,
        "mtime": entry.mtime,
        "content_type": entry.content_type,
    }
    if with_metadata:
        stats["metadata"] = entry.user_metadata()
    return stats


def common_prefix(path: str) -> Json:
    """ObjectStats of a common prefix: lakeFS fills the required fields with empty values."""
    return {"path": path, "path_type": "common_prefix", "physical_address": "", "checksum": "", "mtime": 0}


def diff(path: str, change: Change | None) -> Json:
    """Diff; ``None`` stands for a common prefix with changes under it. A removal reports the size of
    what was removed (as lakeFS does between commits)."""
    if change is None:
        return {"type": "prefix_changed", "path": path, "path_type": "common_prefix"}
    sized = change.after or change.before
    assert sized is not None
    return {"type": change.kind, "path": path, "path_type": "object", "size_bytes": sized.size}


def uncommitted_diff(path: str, change: Change | None) -> Json:
    """Diff of a branch's staged changes: a staged removal is a tombstone, of size 0 as in lakeFS."""
    out = diff(path, change)
    if change is not None and change.after is None:
        out["size_bytes"] = 0
    return out


def page(p: Page[T], render: Callable[[str, T], Json]) -> Json:
    """Any ``*List`` schema: results plus Pagination."""
    return {
        "pagination": {
            "has_more": p.has_more,
            "next_offset": p.next_offset,
            "results": len(p.items),
            "max_per_page": p.amount,
        },
        "results": [render(item.key, item.value) for item in p.items],
    }
