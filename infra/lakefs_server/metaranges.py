"""Committed trees: a commit's objects as a metarange, an ordered list of immutable ranges.

A range is a sorted run of at most ``RANGE_MAX_ENTRIES`` entries, named by the sha256 of its
content and stored once per repository; a metarange is the list of ranges that together hold a
tree's entries, named by the hash of their names. This is the shape lakeFS gives its commits, and
it is what keeps the costs where they belong:

* a commit rewrites only the ranges its changes fall into and shares every other range with its
  parent, so committing N staged objects costs about N rows, whatever the size of the tree;
* a branch is a pointer to a commit: creating one copies nothing;
* a diff skips every range that both sides share, and reads only the rest;
* a listing is an index seek into one range, then sequential reads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from infra.lakefs_server.changes import Change, apply_sorted, diff_sorted
from infra.lakefs_server.entries import Entry

# 2,048 entries (~0.5 MB of rows) per range: a one-object commit rewrites one such range, and a
# tree of a million objects is a metarange of about 500-1,000 ranges.
RANGE_MAX_ENTRIES = 2048
_READ_BATCH = 512
_ENTRY_COLUMNS = "path, address, size, checksum, mtime, content_type, metadata"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Tree:
    """A metarange: the handle a commit keeps to its objects."""

    pk: int
    id: str


@dataclass(frozen=True, slots=True)
class RangeInfo:
    pk: int
    id: str
    min_key: str
    max_key: str
    count: int


def split_evenly(items: Sequence[T], max_size: int) -> list[Sequence[T]]:
    """As few chunks of at most ``max_size`` as possible, of near-equal sizes.

    Even sizes matter: cutting 2,049 entries into 2,048 + 1 would leave a one-entry range that
    every later commit in that key space has to carry along.
    """
    if not items:
        return []
    count = -(-len(items) // max_size)
    base, extra = divmod(len(items), count)
    chunks: list[Sequence[T]] = []
    start = 0
    for i in range(count):
        end = start + base + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def empty_tree(conn: sqlite3.Connection, repo: str) -> Tree:
    return _write_metarange(conn, repo, [])


def ranges_of(conn: sqlite3.Connection, tree_pk: int) -> list[RangeInfo]:
    rows = conn.execute(
        "SELECT range_pk, range_id, min_key, max_key, count FROM metarange_ranges"
        " WHERE metarange_pk = ? ORDER BY min_key",
        (tree_pk,),
    ).fetchall()
    return [RangeInfo(*row) for row in rows]


def lookup(conn: sqlite3.Connection, tree_pk: int, path: str) -> Entry | None:
    """The entry at ``path``: one index seek for the range, one for the entry."""
    row = conn.execute(
        "SELECT address, size, checksum, mtime, content_type, metadata FROM range_entries"
        " WHERE range_pk = (SELECT range_pk FROM metarange_ranges WHERE metarange_pk = ? AND min_key <= ?"
        "                   ORDER BY min_key DESC LIMIT 1) AND path = ?",
        (tree_pk, path, path),
    ).fetchone()
    return Entry(*row) if row else None


def iter_tree(conn: sqlite3.Connection, tree_pk: int, start: str = "") -> Iterator[tuple[str, Entry]]:
    """Entries with ``path >= start`` in path order, read lazily in batches."""
    return iter_ranges(conn, ranges_of(conn, tree_pk), start)


def iter_ranges(conn: sqlite3.Connection, ranges: Sequence[RangeInfo], start: str = "") -> Iterator[tuple[str, Entry]]:
    first = bisect_left([r.max_key for r in ranges], start)
    for info in ranges[first:]:
        key, op = start, ">="
        while True:
            rows = conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM range_entries WHERE range_pk = ? AND path {op} ? ORDER BY path LIMIT ?",
                (info.pk, key, _READ_BATCH),
            ).fetchall()
            for row in rows:
                yield row[0], Entry(*row[1:])
            if len(rows) < _READ_BATCH:
                break
            key, op = rows[-1][0], ">"


def diff(conn: sqlite3.Connection, left: Tree, right: Tree, start: str = "") -> Iterator[Change]:
    """Changes from ``left`` to ``right`` with ``path >= start``, in path order."""
    return diff_ranges(conn, *unshared_ranges(conn, left, right), start)


def unshared_ranges(conn: sqlite3.Connection, left: Tree, right: Tree) -> tuple[list[RangeInfo], list[RangeInfo]]:
    """The ranges of each tree that the other does not have: the only ones a diff must read.

    A range present in both trees holds the same entries on both sides (ranges are named by
    their content, and a key lives in one range per tree), so it cannot hold a change.
    """
    if left.pk == right.pk:
        return [], []
    left_ranges, right_ranges = ranges_of(conn, left.pk), ranges_of(conn, right.pk)
    left_ids = {r.id for r in left_ranges}
    right_ids = {r.id for r in right_ranges}
    return [r for r in left_ranges if r.id not in right_ids], [r for r in right_ranges if r.id not in left_ids]


def diff_ranges(
    conn: sqlite3.Connection, left: Sequence[RangeInfo], right: Sequence[RangeInfo], start: str = ""
) -> Iterator[Change]:
    return diff_sorted(iter_ranges(conn, left, start), iter_ranges(conn, right, start))


def apply(
    conn: sqlite3.Connection, repo: str, base: Tree, changes: Sequence[tuple[str, Entry | None]]
) -> tuple[Tree, int]:
    """A new tree: ``base`` with ``changes`` (sorted by path, unique; None deletes) applied.

    Returns the tree and how many changes had an effect; with none, ``base`` itself.
    """
    if not changes:
        return base, 0
    ranges = ranges_of(conn, base.pk)
    min_keys = [r.min_key for r in ranges]
    # A change goes to the last range starting at or before its path (the first range if none).
    buckets: dict[int, list[tuple[str, Entry | None]]] = defaultdict(list)
    for change in changes:
        buckets[max(bisect_right(min_keys, change[0]) - 1, 0)].append(change)

    new_ranges: list[RangeInfo] = []
    effective = 0
    pos = 0
    for run in _consecutive_runs(sorted(buckets)):
        first, last = run[0], run[-1]
        new_ranges.extend(ranges[pos:first])
        touched = ranges[first : last + 1]
        old_entries = [entry for info in touched for entry in _read_range(conn, info.pk)]
        merged, applied = apply_sorted(old_entries, [c for index in run for c in buckets[index]])
        if applied:
            effective += applied
            new_ranges.extend(_write_range(conn, repo, chunk) for chunk in split_evenly(merged, RANGE_MAX_ENTRIES))
        else:
            new_ranges.extend(touched)
        pos = last + 1
    new_ranges.extend(ranges[pos:])
    if not effective:
        return base, 0
    return _write_metarange(conn, repo, new_ranges), effective


def delete_repository(conn: sqlite3.Connection, repo: str) -> None:
    conn.execute("DELETE FROM range_entries WHERE range_pk IN (SELECT pk FROM ranges WHERE repo = ?)", (repo,))
    conn.execute("DELETE FROM ranges WHERE repo = ?", (repo,))
    conn.execute(
        "DELETE FROM metarange_ranges WHERE metarange_pk IN (SELECT pk FROM metaranges WHERE repo = ?)", (repo,)
    )
    conn.execute("DELETE FROM metaranges WHERE repo = ?", (repo,))


def _consecutive_runs(indexes: Iterable[int]) -> Iterator[list[int]]:
    """[1, 2, 5, 6, 7] -> [1, 2], [5, 6, 7]: neighbouring touched ranges are rewritten together,
    so their entries can be re-split evenly instead of leaving small ranges behind."""
    run: list[int] = []
    for index in indexes:
        if run and index != run[-1] + 1:
            yield run
            run = []
        run.append(index)
    if run:
        yield run


def _read_range(conn: sqlite3.Connection, range_pk: int) -> list[tuple[str, Entry]]:
    rows = conn.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM range_entries WHERE range_pk = ? ORDER BY path", (range_pk,)
    ).fetchall()
    return [(row[0], Entry(*row[1:])) for row in rows]


def _range_id(entries: Sequence[tuple[str, Entry]]) -> str:
    digest = hashlib.sha256()
    for path, e in entries:
        # JSON escapes newlines, so one line per entry is an unambiguous encoding.
        line = json.dumps([path, e.address, e.size, e.checksum, e.mtime, e.content_type, e.metadata])
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _write_range(conn: sqlite3.Connection, repo: str, entries: Sequence[tuple[str, Entry]]) -> RangeInfo:
    range_id = _range_id(entries)
    cursor = conn.execute("INSERT OR IGNORE INTO ranges (repo, id) VALUES (?, ?)", (repo, range_id))
    if cursor.rowcount == 1:
        pk = cursor.lastrowid
        conn.executemany(
            "INSERT INTO range_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((pk, path, e.address, e.size, e.checksum, e.mtime, e.content_type, e.metadata) for path, e in entries),
        )
    else:
        pk = conn.execute("SELECT pk FROM ranges WHERE repo = ? AND id = ?", (repo, range_id)).fetchone()[0]
    assert pk is not None
    return RangeInfo(pk=pk, id=range_id, min_key=entries[0][0], max_key=entries[-1][0], count=len(entries))


def _write_metarange(conn: sqlite3.Connection, repo: str, ranges: Sequence[RangeInfo]) -> Tree:
    tree_id = hashlib.sha256("\n".join(r.id for r in ranges).encode()).hexdigest()
    cursor = conn.execute("INSERT OR IGNORE INTO metaranges (repo, id) VALUES (?, ?)", (repo, tree_id))
    if cursor.rowcount == 1:
        pk = cursor.lastrowid
        conn.executemany(
            "INSERT INTO metarange_ranges VALUES (?, ?, ?, ?, ?, ?)",
            ((pk, r.min_key, r.max_key, r.pk, r.id, r.count) for r in ranges),
        )
    else:
        pk = conn.execute("SELECT pk FROM metaranges WHERE repo = ? AND id = ?", (repo, tree_id)).fetchone()[0]
    assert pk is not None
    return Tree(pk=pk, id=tree_id)
