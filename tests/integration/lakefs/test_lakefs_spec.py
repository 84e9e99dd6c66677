"""lakefs-spec: pandas on lakefs:// paths, filesystem calls and fs.transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import lakefs
import pandas as pd
import pytest
from lakefs_spec import LakeFSFileSystem

pytestmark = pytest.mark.integration


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"id": range(rows), "text": [f"example {i}" for i in range(rows)]})


def test_pandas_writes_and_reads_lakefs_paths(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch], storage_options: dict[str, str]
) -> None:
    make_branch("pandas")
    df = frame(500)
    df.to_parquet(f"lakefs://{repo.id}/pandas/tables/train.parquet", storage_options=storage_options, index=False)
    df.head(3).to_csv(f"lakefs://{repo.id}/pandas/tables/head.csv", storage_options=storage_options, index=False)
    commit = repo.branch("pandas").commit("tables").get_commit()

    back = pd.read_parquet(f"lakefs://{repo.id}/{commit.id}/tables/train.parquet", storage_options=storage_options)
    pd.testing.assert_frame_equal(back, df)
    head = pd.read_csv(f"lakefs://{repo.id}/pandas/tables/head.csv", storage_options=storage_options)
    pd.testing.assert_frame_equal(head, df.head(3))


def test_writes_to_a_new_branch_create_it_and_main_stays_protected(
    repo: lakefs.Repository, lakefs_fs: LakeFSFileSystem
) -> None:
    lakefs_fs.pipe(f"lakefs://{repo.id}/auto-branch/x.txt", b"x")  # lakefs-spec creates the branch from main
    assert repo.branch("auto-branch").object("x.txt").exists()
    with pytest.raises(PermissionError):
        lakefs_fs.pipe(f"lakefs://{repo.id}/main/x.txt", b"x")


def test_filesystem_calls(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch], lakefs_fs: LakeFSFileSystem, tmp_path: Path
) -> None:
    make_branch("fs")
    root = f"lakefs://{repo.id}/fs"
    lakefs_fs.pipe(f"{root}/dir/a.txt", b"aaa")
    lakefs_fs.pipe(f"{root}/dir/sub/b.txt", b"bb")
    local = tmp_path / "up.bin"
    local.write_bytes(b"local file")
    lakefs_fs.put_file(str(local), f"{root}/up.bin")

    assert lakefs_fs.cat(f"{root}/dir/a.txt") == b"aaa"
    lakefs_fs.touch(f"{root}/empty.txt")  # needs a server version of at least 1.3.1
    assert lakefs_fs.cat(f"{root}/empty.txt") == b""
    assert lakefs_fs.tail(f"{root}/dir/a.txt", 2) == b"aa"
    assert lakefs_fs.exists(f"{root}/dir") and lakefs_fs.exists(f"{root}/dir/sub/b.txt")
    assert not lakefs_fs.exists(f"{root}/nope.txt")
    assert sorted(lakefs_fs.ls(f"{root}/dir", detail=False, refresh=True)) == [
        f"{repo.id}/fs/dir/a.txt",
        f"{repo.id}/fs/dir/sub/",
    ]
    assert lakefs_fs.info(f"{root}/dir/a.txt")["size"] == 3
    # The checksum is the MD5 lakeFS reports, so lakefs-spec skips re-uploading unchanged files.
    assert lakefs_fs.checksum(f"{root}/up.bin") == hashlib.md5(b"local file").hexdigest()

    out = tmp_path / "down.bin"
    lakefs_fs.get_file(f"{root}/up.bin", str(out))
    assert out.read_bytes() == b"local file"
    lakefs_fs.rm(f"{root}/dir", recursive=True)
    assert not lakefs_fs.exists(f"{root}/dir/a.txt")


def test_transaction_commits_tags_and_merges(
    repo: lakefs.Repository, lakefs_fs: LakeFSFileSystem, storage_options: dict[str, str]
) -> None:
    with lakefs_fs.transaction(repo.id, "main") as tx:
        frame(10).to_parquet(
            f"lakefs://{repo.id}/{tx.branch.id}/tx/data.parquet", storage_options=storage_options, index=False
        )
        lakefs_fs.pipe(f"lakefs://{repo.id}/{tx.branch.id}/tx/notes.txt", b"notes")
        committed = tx.commit("transaction data", metadata={"by": "test"})
        tx.tag(committed, "tx-v1")

    assert tx.branch.id.startswith("transaction-")
    assert tx.branch.id not in [b.id for b in repo.branches()]  # deleted after the merge
    assert repo.ref("main").object("tx/notes.txt").exists()
    tagged = repo.tag("tx-v1").get_commit()
    assert tagged.message == "transaction data" and tagged.metadata == {"by": "test"}
    back = pd.read_parquet(f"lakefs://{repo.id}/tx-v1/tx/data.parquet", storage_options=storage_options)
    pd.testing.assert_frame_equal(back, frame(10))
