"""Committed trees as ranges in SQLite: cost of commits, sharing between versions, diffs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.lakefs_server import metaranges
from infra.lakefs_server.db import Database
from infra.lakefs_server.entries import Entry
from infra.lakefs_server.metaranges import RANGE_MAX_ENTRIES, split_evenly

REPO = "repo"


def entry(content: str) -> Entry:
    return Entry(f"sha-{content}", len(content), f"md5-{content}", 1, "text/plain", "{}")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "meta.db")
    database.prepare()
    yield database
    database.close()


def build(db: Database, n: int) -> metaranges.Tree:
    changes = [(f"obj/{i:06d}", entry(str(i))) for i in range(n)]
    with db.write() as conn:
        tree, applied = metaranges.apply(conn, REPO, metaranges.empty_tree(conn, REPO), changes)
    assert applied == n
    return tree


def test_ten_thousand_objects_commit_and_list_fast(db: Database) -> None:
    started = time.perf_counter()
    tree = build(db, 10_000)
    with db.read() as conn:
        listed = list(metaranges.iter_tree(conn, tree.pk))
        ranges = metaranges.ranges_of(conn, tree.pk)
    elapsed = time.perf_counter() - started
    assert [p for p, _ in listed] == [f"obj/{i:06d}" for i in range(10_000)]
    assert all(r.count <= RANGE_MAX_ENTRIES for r in ranges) and sum(r.count for r in ranges) == 10_000
    assert elapsed < 5, f"10,000 objects took {elapsed:.1f}s to commit and list"


def test_small_change_rewrites_one_range_and_shares_the_rest(db: Database) -> None:
    base = build(db, 10_000)
    with db.write() as conn:
        changed, applied = metaranges.apply(conn, REPO, base, [("obj/005000", entry("new"))])
        old_ids = {r.id for r in metaranges.ranges_of(conn, base.pk)}
        new_ids = {r.id for r in metaranges.ranges_of(conn, changed.pk)}
    assert applied == 1
    assert len(new_ids - old_ids) == 1 and len(old_ids - new_ids) == 1


def test_identical_content_gives_the_same_tree(db: Database) -> None:
    base = build(db, 100)
    with db.write() as conn:
        same, applied = metaranges.apply(conn, REPO, base, [("obj/000001", entry("1"))])
    assert applied == 0 and same == base


def test_lookup_and_seek(db: Database) -> None:
    tree = build(db, 5_000)
    with db.read() as conn:
        assert metaranges.lookup(conn, tree.pk, "obj/004321") == entry("4321")
        assert metaranges.lookup(conn, tree.pk, "obj/999999") is None
        assert next(metaranges.iter_tree(conn, tree.pk, "obj/0042"))[0] == "obj/004200"


def test_diff_between_versions(db: Database) -> None:
    base = build(db, 6_000)
    with db.write() as conn:
        other, _ = metaranges.apply(
            conn,
            REPO,
            base,
            [
                ("obj/000010", None),
                ("obj/003000", entry("changed")),
                ("zzz/new", entry("n")),
            ],
        )
    with db.read() as conn:
        changes = list(metaranges.diff(conn, base, other))
    assert [(c.path, c.kind) for c in changes] == [
        ("obj/000010", "removed"),
        ("obj/003000", "changed"),
        ("zzz/new", "added"),
    ]


def test_deleting_everything_leaves_an_empty_tree(db: Database) -> None:
    base = build(db, 3_000)
    with db.write() as conn:
        emptied, applied = metaranges.apply(conn, REPO, base, [(f"obj/{i:06d}", None) for i in range(3_000)])
        assert applied == 3_000
        assert emptied == metaranges.empty_tree(conn, REPO)


@pytest.mark.parametrize(
    ("n", "sizes"), [(0, []), (5, [5]), (2048, [2048]), (2049, [1025, 1024]), (5000, [1667, 1667, 1666])]
)
def test_split_evenly(n: int, sizes: list[int]) -> None:
    assert [len(c) for c in split_evenly(list(range(n)), 2048)] == sizes
