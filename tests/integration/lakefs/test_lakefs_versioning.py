"""The lifecycle's versioning helpers (tasks/versioning.py) against the lakeFS-compatible server."""

from __future__ import annotations

import uuid
from pathlib import Path

import lakefs
import pandas as pd
import pytest
from lakefs.client import Client
from lakefs.exceptions import ConflictException

from tasks.services import lakefs as versioning
from tasks.services.lakefs import LakeFSURI

pytestmark = pytest.mark.integration


@pytest.fixture
def repository(lakefs_client: Client) -> str:
    name = f"helpers-{uuid.uuid4().hex[:10]}"
    versioning.ensure_repository(lakefs_client, name, f"local://{name}")
    return name


def test_ensure_repository_is_idempotent(lakefs_client: Client, repository: str) -> None:
    again = versioning.ensure_repository(lakefs_client, repository, f"local://{repository}")
    assert again.properties.default_branch == "main"


def test_data_run_from_branch_to_tag(lakefs_client: Client, repository: str, tmp_path: Path) -> None:
    versioning.create_run_branch(lakefs_client, repository, "run-42")
    versioning.create_run_branch(lakefs_client, repository, "run-42")  # rerun: same branch, no error

    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(b'{"text": "hello"}\n' * 500_000)  # 9 MB: more than one 8 MB chunk each way
    info = versioning.upload_file(
        lakefs_client,
        f"lakefs://{repository}/run-42/raw/data.jsonl",
        raw,
        content_type="application/jsonl",
        metadata={"source": "test"},
    )
    assert info.size_bytes == raw.stat().st_size and info.metadata == {"source": "test"}
    frame = pd.DataFrame({"id": [1, 2, 3], "text": ["a", "b", "c"]})
    versioning.upload_dataframe(lakefs_client, LakeFSURI(repository, "run-42", "prepared/train.parquet"), frame)
    assert {c.path for c in versioning.uncommitted_changes(lakefs_client, repository, "run-42")} == {
        "raw/data.jsonl",
        "prepared/train.parquet",
    }

    first = versioning.commit(lakefs_client, repository, "run-42", "prepare data", {"flow_run": "abc"})
    assert first.created
    assert versioning.commit(lakefs_client, repository, "run-42", "nothing new") == versioning.CommitResult(
        first.commit_id, created=False
    )
    assert {c.path for c in versioning.diff(lakefs_client, repository, "main", "run-42")} == {
        "raw/data.jsonl",
        "prepared/train.parquet",
    }

    merged = versioning.merge_into(lakefs_client, repository, "run-42", message="promote data")
    assert merged.created
    assert versioning.merge_into(lakefs_client, repository, "run-42").created is False  # already merged
    assert versioning.tag(lakefs_client, repository, "data-v1", "main") == merged.commit_id
    assert versioning.tag(lakefs_client, repository, "data-v1", "main", exist_ok=True) == merged.commit_id

    pinned = LakeFSURI(repository, "data-v1", "prepared/train.parquet")
    pd.testing.assert_frame_equal(versioning.read_dataframe(lakefs_client, pinned), frame)
    out = versioning.download_file(
        lakefs_client, f"lakefs://{repository}/{first.commit_id}/raw/data.jsonl", tmp_path / "down" / "data.jsonl"
    )
    assert out.read_bytes() == raw.read_bytes()
    assert versioning.resolve_commit(lakefs_client, repository, "main~1") != merged.commit_id
    assert versioning.object_exists(lakefs_client, pinned)
    assert not versioning.object_exists(lakefs_client, pinned.at("main~1"))


def test_tag_on_another_commit_is_a_conflict_even_with_exist_ok(lakefs_client: Client, repository: str) -> None:
    versioning.tag(lakefs_client, repository, "v", "main")
    work = versioning.create_run_branch(lakefs_client, repository, "work")
    work.object("x").upload("x")
    versioning.commit(lakefs_client, repository, "work", "x")
    with pytest.raises(ConflictException):
        versioning.tag(lakefs_client, repository, "v", "work", exist_ok=True)


def test_merge_conflict_surfaces_as_conflict_exception(lakefs_client: Client, repository: str) -> None:
    repo = lakefs.Repository(repository, client=lakefs_client)
    for name, value in (("a", "1"), ("b", "2")):
        versioning.create_run_branch(lakefs_client, repository, name)
        repo.branch(name).object("same.txt").upload(value)
        versioning.commit(lakefs_client, repository, name, name)
    versioning.merge_into(lakefs_client, repository, "a")
    with pytest.raises(ConflictException):
        versioning.merge_into(lakefs_client, repository, "b")
