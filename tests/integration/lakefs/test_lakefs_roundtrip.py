"""The data lifecycle through the high-level ``lakefs`` client: branch, upload, commit, diff,
merge into the protected main branch, tag, and read back at every kind of ref."""

from __future__ import annotations

from collections.abc import Callable

import lakefs
import pytest
from lakefs.models import CommonPrefix, ObjectInfo

pytestmark = pytest.mark.integration


def read(repo: lakefs.Repository, ref: str, path: str) -> bytes:
    with repo.ref(ref).object(path).reader("rb") as f:
        return f.read()


def test_round_trip_branch_commit_merge_tag_read_back(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    run = make_branch("run-1")
    run.object("data/train.csv").upload("a,b\n1,2\n", content_type="text/csv", metadata={"source": "unit"})
    run.object("data/eval.csv").upload(b"a,b\n3,4\n")
    assert sorted((c.type, c.path) for c in run.uncommitted()) == [
        ("added", "data/eval.csv"),
        ("added", "data/train.csv"),
    ]

    first = run.commit("add data", metadata={"run_id": "run-1", "rows": "2"}).get_commit()
    assert first.message == "add data" and first.metadata == {"run_id": "run-1", "rows": "2"}
    assert list(run.uncommitted()) == []

    # A second commit on the branch, so there is an old version to read back.
    run.object("data/train.csv").upload("a,b\n1,2\n5,6\n", content_type="text/csv")
    run.object("data/eval.csv").delete()
    second = run.commit("grow train, drop eval").get_commit()

    changes = sorted((c.type, c.path) for c in repo.ref("main").diff(run))
    assert changes == [("added", "data/train.csv")]
    assert sorted((c.type, c.path) for c in repo.ref(first.id).diff(second.id)) == [
        ("changed", "data/train.csv"),
        ("removed", "data/eval.csv"),
    ]

    main = repo.branch("main")
    main_before = main.get_commit().id
    merge_id = run.merge_into(main, message="release data", metadata={"gate": "passed"})
    merged = repo.commit(merge_id).get_commit()
    assert merged.parents == [main_before, second.id] and merged.metadata == {"gate": "passed"}
    assert main.get_commit().id == merge_id

    repo.tag("data-v1").create(main)
    assert repo.tag("data-v1").get_commit().id == merge_id

    assert read(repo, "data-v1", "data/train.csv") == b"a,b\n1,2\n5,6\n"
    assert read(repo, first.id, "data/train.csv") == b"a,b\n1,2\n"
    assert read(repo, first.id[:12], "data/eval.csv") == b"a,b\n3,4\n"
    assert read(repo, "run-1~1", "data/eval.csv") == b"a,b\n3,4\n"
    assert read(repo, "main^2~1", "data/train.csv") == b"a,b\n1,2\n"
    assert main.get_commit().id != repo.ref("main~1").get_commit().id
    assert repo.ref("main~1").get_commit().id == main_before
    assert not repo.ref("main~1").object("data/train.csv").exists()

    stat = repo.ref("data-v1").object("data/train.csv").stat()
    assert stat.content_type == "text/csv" and stat.size_bytes == 12
    assert [c.message for c in main.log()] == [
        "release data",
        "grow train, drop eval",
        "add data",
        "Repository created",
    ]


def test_branch_reads_include_uncommitted_changes_and_at_sign_excludes_them(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    work = make_branch()
    work.object("a.txt").upload("committed")
    work.commit("one")
    work.object("a.txt").upload("staged")
    assert read(repo, "work", "a.txt") == b"staged"
    assert read(repo, "work@", "a.txt") == b"committed"


def test_listing_with_prefix_delimiter_and_pagination(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    work = make_branch()
    paths = [f"images/{i:03d}.png" for i in range(25)] + ["labels/a.json", "labels/b.json", "README.md"]
    for path in paths:
        work.object(path).upload(path)
    work.commit("files")
    work.object("labels/c.json").upload("staged")
    work.object("README.md").delete()

    top = list(work.objects(delimiter="/"))
    assert [(type(o).__name__, o.path) for o in top] == [("CommonPrefix", "images/"), ("CommonPrefix", "labels/")]
    assert [o.path for o in work.objects(prefix="labels/")] == ["labels/a.json", "labels/b.json", "labels/c.json"]
    paged = list(work.objects(prefix="images/", amount=7))  # 4 pages of at most 7
    assert [o.path for o in paged] == [p for p in paths if p.startswith("images/")]
    assert all(isinstance(o, ObjectInfo) for o in paged)
    assert [o.path for o in repo.ref("work@").objects(after="labels/a.json")] == ["labels/b.json"]
    assert isinstance(next(iter(repo.ref("work").objects(delimiter="/", prefix="images"))), CommonPrefix)


def test_range_reads_seek_and_tail(make_branch: Callable[..., lakefs.Branch]) -> None:
    work = make_branch()
    payload = bytes(range(256)) * 40
    work.object("blob.bin").upload(payload, mode="wb")
    with work.object("blob.bin").reader("rb") as f:
        f.seek(1000)
        assert f.read(24) == payload[1000:1024]
        f.seek(-10, 2)
        assert f.read() == payload[-10:]
        assert f.read(5) == b""


def test_copy_delete_bulk_delete_and_reset(repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]) -> None:
    work = make_branch()
    for name in ("a", "b", "c", "d"):
        work.object(f"x/{name}").upload(name)
    work.commit("four")
    work.object("x/a").copy("work", "y/a-copy")
    assert read(repo, "work", "y/a-copy") == b"a"
    work.delete_objects(["x/b", "x/c", "x/does-not-exist"])
    assert sorted(o.path for o in work.objects()) == ["x/a", "x/d", "y/a-copy"]
    assert sorted((c.type, c.path) for c in work.uncommitted()) == [
        ("added", "y/a-copy"),
        ("removed", "x/b"),
        ("removed", "x/c"),
    ]
    work.reset_changes(path_type="object", path="x/b")
    assert sorted(c.path for c in work.uncommitted()) == ["x/c", "y/a-copy"]
    work.reset_changes()
    assert list(work.uncommitted()) == []
    assert sorted(o.path for o in work.objects()) == ["x/a", "x/b", "x/c", "x/d"]


def test_three_way_merge_and_squash(repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]) -> None:
    base = make_branch("base")
    base.object("shared.txt").upload("v0")
    base.object("left.txt").upload("v0")
    base.commit("base")
    ours, theirs = make_branch("ours", "base"), make_branch("theirs", "base")
    ours.object("left.txt").upload("ours")
    ours.commit("ours")
    theirs.object("right.txt").upload("theirs")
    theirs.commit("theirs")

    merge_id = theirs.merge_into(ours)
    assert read(repo, "ours", "left.txt") == b"ours" and read(repo, "ours", "right.txt") == b"theirs"
    assert len(repo.commit(merge_id).get_commit().parents) == 2

    theirs.object("squashed.txt").upload("s")
    theirs.commit("more")
    squash_id = theirs.merge_into(ours, squash_merge=True)
    assert repo.commit(squash_id).get_commit().parents == [merge_id]


def test_revert_a_commit(repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]) -> None:
    work = make_branch()
    work.object("f.txt").upload("one")
    work.commit("one")
    work.object("f.txt").upload("two")
    bad = work.commit("two").get_commit()
    reverted = work.revert(bad.id)
    assert reverted.parents == [bad.id] and reverted.message == f"Revert {bad.id}"
    assert read(repo, "work", "f.txt") == b"one"


def test_branches_tags_and_repository_listing(
    lakefs_client: lakefs.Client, repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    for i in range(5):
        make_branch(f"b{i}")
    assert [b.id for b in repo.branches(max_amount=3)] == ["b0", "b1", "b2"]
    assert [b.id for b in repo.branches(after="b3")] == ["b4", "main"]
    assert [b.id for b in repo.branches(prefix="b")] == ["b0", "b1", "b2", "b3", "b4"]
    repo.branch("b4").delete()
    assert "b4" not in [b.id for b in repo.branches()]

    head = repo.branch("main").get_commit().id
    for name in ("v1", "v2"):
        repo.tag(name).create("main")
    assert [(t.id, t.get_commit().id) for t in repo.tags()] == [("v1", head), ("v2", head)]
    repo.tag("v1").delete()
    assert [t.id for t in repo.tags()] == ["v2"]

    assert repo.id in [r.id for r in lakefs.repositories(client=lakefs_client, prefix="test-")]
    assert repo.metadata == {}
    assert repo.properties.default_branch == "main"


def test_repository_delete(lakefs_client: lakefs.Client, repo_name: str) -> None:
    repo = lakefs.Repository(repo_name, client=lakefs_client).create(storage_namespace=f"local://{repo_name}")
    repo.delete()
    assert repo_name not in [r.id for r in lakefs.repositories(client=lakefs_client)]
    again = lakefs.Repository(repo_name, client=lakefs_client).create(storage_namespace=f"local://{repo_name}")
    assert [c.message for c in again.ref("main").log()] == ["Repository created"]


def test_branch_transaction_of_the_high_level_client(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    work = make_branch()
    with work.transact(commit_message="tx commit", commit_metadata={"step": "prepare"}) as tx:
        tx.object("t.txt").upload("t")
        assert tx.id not in [b.id for b in repo.branches()]  # transaction branches are hidden
    assert read(repo, "work", "t.txt") == b"t"
    merge, commit = list(work.log(max_amount=2))
    assert merge.message.startswith("Merge transaction") and commit.metadata == {"step": "prepare"}
    assert [b.id for b in repo.branches()] == ["main", "work"]  # and deleted afterwards


def test_unusual_paths_and_empty_objects(repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]) -> None:
    work = make_branch()
    odd = ["dir with space/naïve é.txt", "a+b&c=d?.csv", "deep/" * 20 + "leaf", "emoji/🙂.txt", "~tilde^caret@"]
    for path in odd:
        work.object(path).upload(path)
    work.object("empty.bin").upload(b"", mode="wb")
    work.commit("odd paths")
    for path in odd:
        assert read(repo, "work~0", path) == path.encode()
    assert read(repo, "work", "empty.bin") == b""
    assert work.object("empty.bin").stat().size_bytes == 0
    assert sorted(o.path for o in work.objects()) == sorted([*odd, "empty.bin"])
