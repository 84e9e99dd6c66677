"""A branch's uncommitted changes: one row per path written or deleted since the branch's head.

A row with an address is an upload; a row without one (a tombstone) hides the committed entry.
What a branch shows is its head tree overlaid with these rows, and a commit folds them into a
new tree and clears them, in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from infra.lakefs_server.entries import Entry
from infra.lakefs_server.listing import key_after_prefix

_READ_BATCH = 512
_VALUE_COLUMNS = "address, size, checksum, mtime, content_type, metadata"


def get(conn: sqlite3.Connection, repo: str, branch: str, path: str) -> tuple[bool, Entry | None]:
    """(staged?, entry): ``(True, None)`` is a staged deletion."""
    row = conn.execute(
        f"SELECT {_VALUE_COLUMNS} FROM staging WHERE repo = ? AND branch = ? AND path = ?", (repo, branch, path)
    ).fetchone()
    if row is None:
        return False, None
    return True, _to_entry(row)


def put(conn: sqlite3.Connection, repo: str, branch: str, path: str, entry: Entry | None) -> None:
    values = (
        (None,) * 6
        if entry is None
        else (
            entry.address,
            entry.size,
            entry.checksum,
            entry.mtime,
            entry.content_type,
            entry.metadata,
        )
    )
    conn.execute("INSERT OR REPLACE INTO staging VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (repo, branch, path, *values))


def remove(conn: sqlite3.Connection, repo: str, branch: str, path: str) -> None:
    conn.execute("DELETE FROM staging WHERE repo = ? AND branch = ? AND path = ?", (repo, branch, path))


def clear(conn: sqlite3.Connection, repo: str, branch: str, prefix: str = "") -> None:
    if prefix:
        conn.execute(
            "DELETE FROM staging WHERE repo = ? AND branch = ? AND path >= ? AND path < ?",
            (repo, branch, prefix, key_after_prefix(prefix)),
        )
    else:
        conn.execute("DELETE FROM staging WHERE repo = ? AND branch = ?", (repo, branch))


def is_dirty(conn: sqlite3.Connection, repo: str, branch: str) -> bool:
    row = conn.execute("SELECT 1 FROM staging WHERE repo = ? AND branch = ? LIMIT 1", (repo, branch)).fetchone()
    return row is not None


def all_changes(conn: sqlite3.Connection, repo: str, branch: str) -> list[tuple[str, Entry | None]]:
    rows = conn.execute(
        f"SELECT path, {_VALUE_COLUMNS} FROM staging WHERE repo = ? AND branch = ? ORDER BY path", (repo, branch)
    ).fetchall()
    return [(row[0], _to_entry(row[1:])) for row in rows]


def iter_staged(
    conn: sqlite3.Connection, repo: str, branch: str, start: str = ""
) -> Iterator[tuple[str, Entry | None]]:
    """Staged rows with ``path >= start`` in path order, read lazily in batches."""
    key, op = start, ">="
    while True:
        rows = conn.execute(
            f"SELECT path, {_VALUE_COLUMNS} FROM staging WHERE repo = ? AND branch = ? AND path {op} ?"
            " ORDER BY path LIMIT ?",
            (repo, branch, key, _READ_BATCH),
        ).fetchall()
        for row in rows:
            yield row[0], _to_entry(row[1:])
        if len(rows) < _READ_BATCH:
            return
        key, op = rows[-1][0], ">"


def overlay(
    committed: Iterator[tuple[str, Entry]], staged: Iterator[tuple[str, Entry | None]]
) -> Iterator[tuple[str, Entry]]:
    """What a branch shows: staged rows replace committed entries, tombstones hide them."""
    c, s = next(committed, None), next(staged, None)
    while c is not None or s is not None:
        if s is None or (c is not None and c[0] < s[0]):
            assert c is not None
            yield c
            c = next(committed, None)
            continue
        if c is not None and c[0] == s[0]:
            c = next(committed, None)
        if s[1] is not None:
            yield s[0], s[1]
        s = next(staged, None)


def delete_repository(conn: sqlite3.Connection, repo: str) -> None:
    conn.execute("DELETE FROM staging WHERE repo = ?", (repo,))


def _to_entry(values: tuple) -> Entry | None:
    return None if values[0] is None else Entry(*values)
