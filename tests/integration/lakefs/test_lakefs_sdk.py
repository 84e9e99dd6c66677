"""The generated ``lakefs_sdk`` client: multipart uploads, ranges, paging, logs, protection rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lakefs
import lakefs_sdk
import pytest
from lakefs_sdk import (
    BranchCreation,
    BranchProtectionRule,
    CommitCreation,
    Merge,
    ObjectCopyCreation,
    PathList,
    RepositoryCreation,
    TagCreation,
)
from lakefs_sdk.client import LakeFSClient

pytestmark = [
    pytest.mark.integration,
    # Some endpoints used here are deprecated in lakeFS but still served (and still called by tools).
    pytest.mark.filterwarnings("ignore:.* is deprecated:DeprecationWarning"),
]


def test_config_storage_user_and_health(sdk: LakeFSClient) -> None:
    config = sdk.config_api.get_config()
    assert config.storage_config.blockstore_namespace_validity_regex == "^local://"
    assert config.storage_config.pre_sign_support is False
    assert tuple(int(x) for x in config.version_config.version.split(".")) >= (1, 3, 1)
    assert sdk.internal_api.get_storage_config().blockstore_type == "local"
    assert sdk.internal_api.get_lake_fs_version().version == config.version_config.version
    assert sdk.auth_api.get_current_user().user.id == "admin"
    sdk.health_check_api.health_check()


def test_multipart_upload_range_head_stat_and_copy(
    sdk: LakeFSClient, repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch], tmp_path: Path
) -> None:
    make_branch("ingest")
    local = tmp_path / "table.csv"
    local.write_bytes(b"id,text\n" + b"".join(f"{i},row {i}\n".encode() for i in range(1000)))
    stats = sdk.objects_api.upload_object(repo.id, "ingest", "raw/table.csv", content=str(local))
    assert stats.size_bytes == local.stat().st_size and stats.content_type == "text/csv"

    whole = sdk.objects_api.get_object(repo.id, "ingest", "raw/table.csv")
    assert bytes(whole) == local.read_bytes()
    part = sdk.objects_api.get_object_with_http_info(repo.id, "ingest", "raw/table.csv", range="bytes=0-6")
    assert part.status_code == 206 and bytes(part.data) == b"id,text"
    assert part.headers["Content-Range"] == f"bytes 0-6/{local.stat().st_size}"
    head = sdk.objects_api.head_object_with_http_info(repo.id, "ingest", "raw/table.csv")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == local.stat().st_size
    assert head.headers["ETag"].strip('"') == stats.checksum

    copied = sdk.objects_api.copy_object(
        repo.id, "ingest", "raw/copy.csv", ObjectCopyCreation(src_path="raw/table.csv", src_ref="ingest")
    )
    assert copied.checksum == stats.checksum and copied.path == "raw/copy.csv"
    sdk.objects_api.update_object_user_metadata(
        repo.id, "ingest", "raw/copy.csv", lakefs_sdk.UpdateObjectUserMetadata(set={"label": "copy"})
    )
    assert sdk.objects_api.stat_object(repo.id, "ingest", "raw/copy.csv").metadata == {"label": "copy"}
    assert sdk.objects_api.stat_object(repo.id, "ingest", "raw/copy.csv", user_metadata=False).metadata is None


def test_identical_content_is_stored_once(
    sdk: LakeFSClient, repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch], tmp_path: Path
) -> None:
    make_branch("ingest")
    local = tmp_path / "same.bin"
    local.write_bytes(b"same bytes" * 100)
    first = sdk.objects_api.upload_object(repo.id, "ingest", "a.bin", content=str(local))
    second = sdk.objects_api.upload_object(repo.id, "ingest", "b/c.bin", content=str(local))
    assert first.physical_address == second.physical_address


def test_listing_log_and_diff_paging(
    sdk: LakeFSClient, repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    branch = make_branch("paged")
    for i in range(12):
        branch.object(f"part-{i:02d}").upload(str(i))
        sdk.commits_api.commit(repo.id, "paged", CommitCreation(message=f"c{i}", metadata={"i": str(i)}))

    page1 = sdk.objects_api.list_objects(repo.id, "paged", amount=5)
    assert [o.path for o in page1.results] == [f"part-{i:02d}" for i in range(5)]
    assert page1.pagination.has_more and page1.pagination.next_offset == "part-04"
    page3 = sdk.objects_api.list_objects(repo.id, "paged", amount=5, after="part-09")
    assert [o.path for o in page3.results] == ["part-10", "part-11"] and not page3.pagination.has_more

    log = sdk.refs_api.log_commits(repo.id, "paged", amount=4)
    assert [c.message for c in log.results] == ["c11", "c10", "c9", "c8"] and log.pagination.has_more
    more = sdk.refs_api.log_commits(repo.id, "paged", amount=4, after=log.pagination.next_offset)
    assert [c.message for c in more.results] == ["c7", "c6", "c5", "c4"]
    touched = sdk.refs_api.log_commits(repo.id, "paged", objects=["part-03"], prefixes=["part-1"])
    assert [c.message for c in touched.results] == ["c11", "c10", "c3"]
    assert [c.message for c in sdk.refs_api.log_commits(repo.id, "paged", stop_at="paged~2").results] == [
        "c11",
        "c10",
        "c9",
    ]
    now = datetime.now(UTC)
    assert len(sdk.refs_api.log_commits(repo.id, "paged", since=now - timedelta(hours=1)).results) == 13  # + initial
    assert sdk.refs_api.log_commits(repo.id, "paged", since=now + timedelta(hours=1)).results == []

    diff = sdk.refs_api.diff_refs(repo.id, "main", "paged", amount=5)
    assert len(diff.results) == 5 and diff.pagination.has_more
    two_dot = sdk.refs_api.diff_refs(repo.id, "paged~2", "paged", type="two_dot")
    assert [(d.type, d.path) for d in two_dot.results] == [("added", "part-10"), ("added", "part-11")]
    grouped = sdk.refs_api.diff_refs(repo.id, "main", "paged", delimiter="-")
    assert [(d.type, d.path, d.path_type) for d in grouped.results] == [("prefix_changed", "part-", "common_prefix")]


def test_merge_variants_and_merge_base(
    sdk: LakeFSClient, repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    feature = make_branch("feature")
    feature.object("f.txt").upload("f")
    sdk.commits_api.commit(repo.id, "feature", CommitCreation(message="f"))
    base = sdk.refs_api.find_merge_base(repo.id, "feature", "main")
    assert base.base_commit_id == base.destination_commit_id  # main has not moved: a fast-forward case

    result = sdk.refs_api.merge_into_branch(repo.id, "feature", "main", merge=Merge(squash_merge=True))
    merged = sdk.commits_api.get_commit(repo.id, result.reference)
    assert merged.parents == [base.destination_commit_id]
    assert merged.meta_range_id == sdk.commits_api.get_commit(repo.id, "feature").meta_range_id

    # A squash merge leaves main's history without feature's commit, so lakeFS merges feature again
    # (its tree is not the merge base's), though the content is already there.
    feature_head = sdk.commits_api.get_commit(repo.id, "feature").id
    again = sdk.commits_api.get_commit(repo.id, sdk.refs_api.merge_into_branch(repo.id, "feature", "main").reference)
    assert again.parents == [result.reference, feature_head] and again.meta_range_id == merged.meta_range_id
    # Now feature's head is in main's history: nothing to bring, unless an empty merge is asked for
    with pytest.raises(lakefs_sdk.exceptions.BadRequestException, match="no changes"):
        sdk.refs_api.merge_into_branch(repo.id, "feature", "main")
    empty = sdk.refs_api.merge_into_branch(repo.id, "feature", "main", merge=Merge(allow_empty=True))
    assert sdk.commits_api.get_commit(repo.id, empty.reference).parents[0] == again.id


def test_branch_creation_answers_the_commit_id_and_tags(sdk: LakeFSClient, repo: lakefs.Repository) -> None:
    head = sdk.branches_api.get_branch(repo.id, "main").commit_id
    answer = sdk.branches_api.create_branch(repo.id, BranchCreation(name="from-sdk", source="main"))
    assert answer == head
    assert sdk.tags_api.create_tag(repo.id, TagCreation(id="t1", ref=head[:10])).commit_id == head
    assert sdk.tags_api.get_tag(repo.id, "t1").commit_id == head
    moved = sdk.tags_api.create_tag(repo.id, TagCreation(id="t1", ref="from-sdk", force=True))
    assert moved.commit_id == head
    sdk.tags_api.delete_tag(repo.id, "t1")
    assert sdk.tags_api.list_tags(repo.id).results == []


def test_branch_protection_rules(
    sdk: LakeFSClient, repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch]
) -> None:
    response = sdk.repositories_api.get_branch_protection_rules_with_http_info(repo.id)
    assert [r.pattern for r in response.data] == ["main"]  # the default branch, from creation on
    etag = response.headers["ETag"]

    with pytest.raises(lakefs_sdk.exceptions.ApiException) as stale:
        sdk.repositories_api.set_branch_protection_rules(
            repo.id, [BranchProtectionRule(pattern="x")], if_match='"not-the-etag"'
        )
    assert stale.value.status == 412
    sdk.repositories_api.set_branch_protection_rules(
        repo.id, [BranchProtectionRule(pattern="main"), BranchProtectionRule(pattern="release-*")], if_match=etag
    )
    make_branch("release-1")
    with pytest.raises(lakefs_sdk.exceptions.ForbiddenException):
        sdk.objects_api.delete_objects(repo.id, "release-1", PathList(paths=["x"]))

    sdk.internal_api.internal_delete_branch_protection_rule(repo.id, BranchProtectionRule(pattern="release-*"))
    sdk.internal_api.internal_create_branch_protection_rule(repo.id, BranchProtectionRule(pattern="tmp-?"))
    assert [r.pattern for r in sdk.internal_api.internal_get_branch_protection_rules(repo.id)] == ["main", "tmp-?"]
    sdk.repositories_api.set_branch_protection_rules(repo.id, [])
    repo.branch("main").object("direct.txt").upload("now allowed")


def test_repository_metadata_and_creation_options(sdk: LakeFSClient, repo_name: str) -> None:
    created = sdk.repositories_api.create_repository(
        RepositoryCreation(name=repo_name, storage_namespace=f"local://{repo_name}", default_branch="trunk")
    )
    assert created.default_branch == "trunk"
    assert [b.id for b in sdk.branches_api.list_branches(repo_name).results] == ["trunk"]
    sdk.internal_api.set_repository_metadata(repo_name, lakefs_sdk.RepositoryMetadataSet(metadata={"team": "ml"}))
    assert sdk.repositories_api.get_repository_metadata(repo_name) == {"team": "ml"}
    sdk.internal_api.delete_repository_metadata(repo_name, lakefs_sdk.RepositoryMetadataKeys(keys=["team"]))
    assert sdk.repositories_api.get_repository_metadata(repo_name) == {}

    with pytest.raises(lakefs_sdk.exceptions.BadRequestException):
        sdk.repositories_api.create_repository(RepositoryCreation(name="x" + repo_name, storage_namespace="s3://b/"))
    bare = "b" + repo_name[1:]
    sdk.repositories_api.create_repository(
        RepositoryCreation(name=bare, storage_namespace=f"local://{bare}"), bare=True
    )
    assert sdk.branches_api.list_branches(bare).results == []


def test_read_only_repository_refuses_writes_unless_forced(sdk: LakeFSClient, repo_name: str) -> None:
    sdk.repositories_api.create_repository(
        RepositoryCreation(name=repo_name, storage_namespace=f"local://{repo_name}", read_only=True)
    )
    assert sdk.repositories_api.get_repository(repo_name).read_only is True
    with pytest.raises(lakefs_sdk.exceptions.ForbiddenException):
        sdk.branches_api.create_branch(repo_name, BranchCreation(name="import", source="main"))
    sdk.branches_api.create_branch(repo_name, BranchCreation(name="import", source="main", force=True))
    with pytest.raises(lakefs_sdk.exceptions.ForbiddenException):
        sdk.commits_api.commit(repo_name, "import", CommitCreation(message="x", allow_empty=True))
    sdk.commits_api.commit(repo_name, "import", CommitCreation(message="x", allow_empty=True, force=True))
    with pytest.raises(lakefs_sdk.exceptions.ForbiddenException):
        sdk.repositories_api.delete_repository(repo_name)
    sdk.repositories_api.delete_repository(repo_name, force=True)
