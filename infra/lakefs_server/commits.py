"""Commit records and walks over the commit graph.

A commit's id is the sha256 of its content (parents, tree, message, metadata, committer, date),
as in lakeFS and git. Every commit also gets a sequence number when it is first stored; a parent
is always stored before its children, so walking the graph by descending sequence number visits
commits newest first and never sees a commit before all of its descendants on the walk.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from infra.lakefs_server.metaranges import Tree

_COLUMNS = "seq, id, parents, committer, message, creation_date, metarange_pk, metarange_id, metadata, generation"


@dataclass(frozen=True, slots=True)
class Commit:
    seq: int
    id: str
    parents: tuple[str, ...]
    committer: str
    message: str
    creation_date: int
    tree: Tree
    metadata: dict[str, str]
    generation: int


def _from_row(row: tuple) -> Commit:
    seq, cid, parents, committer, message, date, tree_pk, tree_id, metadata, generation = row
    return Commit(
        seq=seq,
        id=cid,
        parents=tuple(json.loads(parents)),
        committer=committer,
        message=message,
        creation_date=date,
        tree=Tree(pk=tree_pk, id=tree_id),
        metadata=json.loads(metadata),
        generation=generation,
    )


def get(conn: sqlite3.Connection, repo: str, commit_id: str) -> Commit | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM commits WHERE repo = ? AND id = ?", (repo, commit_id)).fetchone()
    return _from_row(row) if row else None


def ids_with_prefix(conn: sqlite3.Connection, repo: str, prefix: str, limit: int = 2) -> list[str]:
    rows = conn.execute(
        "SELECT id FROM commits WHERE repo = ? AND id >= ? AND id < ? ORDER BY id LIMIT ?",
        (repo, prefix, prefix + "g", limit),  # ids are lowercase hex: 'g' sorts after every digit
    ).fetchall()
    return [row[0] for row in rows]


def create(
    conn: sqlite3.Connection,
    repo: str,
    *,
    parents: Sequence[str],
    tree: Tree,
    message: str,
    metadata: dict[str, str],
    committer: str,
    creation_date: int,
) -> Commit:
    generation = 1 + max((_generation(conn, repo, p) for p in parents), default=0)
    content = json.dumps(
        {
            "parents": list(parents),
            "meta_range_id": tree.id,
            "message": message,
            "metadata": metadata,
            "committer": committer,
            "creation_date": creation_date,
            "generation": generation,
        },
        sort_keys=True,
    )
    commit_id = hashlib.sha256(content.encode()).hexdigest()
    # Identical content means the identical commit, already stored: keep the first record.
    conn.execute(
        "INSERT OR IGNORE INTO commits (repo, id, parents, committer, message, creation_date, metarange_pk,"
        " metarange_id, metadata, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            repo,
            commit_id,
            json.dumps(list(parents)),
            committer,
            message,
            creation_date,
            tree.pk,
            tree.id,
            json.dumps(metadata, sort_keys=True),
            generation,
        ),
    )
    commit = get(conn, repo, commit_id)
    assert commit is not None
    return commit


def _generation(conn: sqlite3.Connection, repo: str, commit_id: str) -> int:
    row = conn.execute("SELECT generation FROM commits WHERE repo = ? AND id = ?", (repo, commit_id)).fetchone()
    return row[0] if row else 0


def walk(conn: sqlite3.Connection, repo: str, start: Commit, first_parent: bool = False) -> Iterator[Commit]:
    """``start`` and its ancestors, newest first (by sequence number), each once."""
    heap = [(-start.seq, start.id, start)]
    seen = {start.id}
    while heap:
        _, _, commit = heapq.heappop(heap)
        yield commit
        parents = commit.parents[:1] if first_parent else commit.parents
        for parent_id in parents:
            if parent_id in seen:
                continue
            seen.add(parent_id)
            parent = get(conn, repo, parent_id)
            if parent is not None:
                heapq.heappush(heap, (-parent.seq, parent.id, parent))


def merge_base(conn: sqlite3.Connection, repo: str, a: Commit, b: Commit) -> Commit | None:
    """The newest common ancestor of ``a`` and ``b`` (None if their histories never meet).

    Both histories are walked together, newest first, spreading "reachable from a" and
    "reachable from b" marks to parents. By the time a commit is taken off the queue every
    descendant on either walk has been processed, so its marks are final: the first commit
    carrying both is a common ancestor that no other common ancestor descends from.
    """
    from_a, from_b = 1, 2
    marks: dict[str, int] = {a.id: from_a}
    marks[b.id] = marks.get(b.id, 0) | from_b
    heap = [(-a.seq, a.id, a)]
    if b.id != a.id:
        heap.append((-b.seq, b.id, b))
    heapq.heapify(heap)
    while heap:
        _, _, commit = heapq.heappop(heap)
        mark = marks[commit.id]
        if mark == from_a | from_b:
            return commit
        for parent_id in commit.parents:
            before = marks.get(parent_id, 0)
            if before | mark == before:
                continue
            marks[parent_id] = before | mark
            if before == 0:
                parent = get(conn, repo, parent_id)
                if parent is not None:
                    heapq.heappush(heap, (-parent.seq, parent.id, parent))
    return None


def delete_repository(conn: sqlite3.Connection, repo: str) -> None:
    conn.execute("DELETE FROM commits WHERE repo = ?", (repo,))
