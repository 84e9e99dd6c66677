"""Failures answer with lakeFS's status codes and error body, and each client raises its usual
exception for them."""

from __future__ import annotations

import json
from collections.abc import Callable

import lakefs
import lakefs_sdk
import pytest
from lakefs.client import Client
from lakefs.exceptions import (
    BadRequestException,
    ConflictException,
    ForbiddenException,
    NotAuthorizedException,
    NotFoundException,
    ObjectExistsException,
    ObjectNotFoundException,
    PermissionException,
)
from lakefs_sdk import BranchCreation, CommitCreation
from lakefs_sdk.client import LakeFSClient
from lakefs_spec import LakeFSFileSystem

from infra.lakefs_server.runner import ServerProcess

pytestmark = pytest.mark.integration


def error_body(exc: lakefs_sdk.exceptions.ApiException) -> dict[str, object]:
    body = json.loads(exc.body)
    assert isinstance(body.get("message"), str) and body["message"]
    return body


def diverge(make_branch: Callable[..., lakefs.Branch]) -> None:
    """Branches 'left' and 'right' that changed the same file differently since branching."""
    base = make_branch("base")
    base.object("config.yaml").upload("lr: 0.1")
    base.commit("base")
    for side, value in (("left", "lr: 0.2"), ("right", "lr: 0.3")):
        branch = make_branch(side, "base")
        branch.object("config.yaml").upload(value)
        branch.commit(side)


def test_merge_conflict_is_409(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch], sdk: LakeFSClient
) -> None:
    diverge(make_branch)
    before = repo.branch("right").get_commit().id
    with pytest.raises(ConflictException) as caught:
        repo.branch("left").merge_into(repo.branch("right"))
    assert caught.value.status_code == 409
    assert "conflict" in caught.value.body["message"] and "config.yaml" in caught.value.body["message"]
    assert repo.branch("right").get_commit().id == before  # nothing changed

    with pytest.raises(lakefs_sdk.exceptions.ApiException) as raw:
        sdk.refs_api.merge_into_branch(repo.id, "left", "right")
    assert raw.value.status == 409 and "conflict" in error_body(raw.value)["message"]

    resolved = repo.branch("left").merge_into(repo.branch("right"), strategy="source-wins")
    assert repo.commit(resolved).object("config.yaml").reader().read() == b"lr: 0.2"


def test_protected_branch_refuses_commits_and_writes_but_accepts_merges(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch], sdk: LakeFSClient, lakefs_fs: LakeFSFileSystem
) -> None:
    with pytest.raises(ForbiddenException) as caught:
        repo.branch("main").commit("direct commit", allow_empty=True)
    assert caught.value.status_code == 403 and "protected branch" in caught.value.body["message"]

    with pytest.raises(lakefs_sdk.exceptions.ForbiddenException) as raw:
        sdk.commits_api.commit(repo.id, "main", CommitCreation(message="direct", allow_empty=True))
    assert "protected branch" in error_body(raw.value)["message"]

    with pytest.raises(ForbiddenException) as upload:
        repo.branch("main").object("x.txt").upload("x")
    assert "cannot write to protected branch" in upload.value.body["message"]
    with pytest.raises(PermissionException):  # what object deletes raise for a 403
        repo.branch("main").object("x.txt").delete()
    with pytest.raises(PermissionError):
        lakefs_fs.pipe(f"lakefs://{repo.id}/main/x.txt", b"x")
    with pytest.raises(ForbiddenException):
        repo.branch("main").delete()

    work = make_branch()
    work.object("x.txt").upload("x")
    work.commit("x")
    work.merge_into(repo.branch("main"))
    assert repo.ref("main").object("x.txt").exists()


def test_protection_is_the_rule_not_a_default(lakefs_client: Client, sdk: LakeFSClient, repo_name: str) -> None:
    """As in lakeFS, a new repository's main takes direct writes until a rule protects it; the data
    flow's `ensure_repository` adds that rule, and removing the rule lifts the refusal."""
    from tasks.services.lakefs import ensure_repository, protect_branch

    plain = lakefs.Repository(repo_name, client=lakefs_client).create(storage_namespace=f"local://{repo_name}")
    assert sdk.repositories_api.get_branch_protection_rules(plain.id) == []
    plain.branch("main").object("direct.txt").upload("written straight to main")
    plain.branch("main").commit("a direct commit")

    guarded = ensure_repository(lakefs_client, f"{repo_name}-flow", f"local://{repo_name}-flow")
    assert [r.pattern for r in sdk.repositories_api.get_branch_protection_rules(guarded.id)] == ["main"]
    with pytest.raises(ForbiddenException, match="protected branch"):
        guarded.branch("main").object("direct.txt").upload("x")
    assert ensure_repository(lakefs_client, guarded.id).id == guarded.id  # an existing one is left alone
    assert not protect_branch(lakefs_client, guarded.id, "main")  # the rule is there once
    assert len(sdk.repositories_api.get_branch_protection_rules(guarded.id)) == 1

    sdk.repositories_api.set_branch_protection_rules(guarded.id, [])
    guarded.branch("main").object("direct.txt").upload("the rule gone, the write goes through")


def test_missing_object_is_404(repo: lakefs.Repository, sdk: LakeFSClient, lakefs_fs: LakeFSFileSystem) -> None:
    missing = repo.ref("main").object("no/such/file.txt")
    assert not missing.exists()
    with pytest.raises(ObjectNotFoundException):
        missing.stat()
    with pytest.raises(NotFoundException):
        missing.reader().read()
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException) as raw:
        sdk.objects_api.get_object(repo.id, "main", "no/such/file.txt")
    assert "not found" in error_body(raw.value)["message"]
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        sdk.objects_api.head_object(repo.id, "main", "no/such/file.txt")
    with pytest.raises(FileNotFoundError):
        lakefs_fs.cat(f"lakefs://{repo.id}/main/no/such/file.txt")


def test_bad_refs(repo: lakefs.Repository, sdk: LakeFSClient, lakefs_client: Client) -> None:
    with pytest.raises(NotFoundException) as caught:
        repo.ref("no-such-branch").get_commit()
    assert caught.value.status_code == 404 and "ref not found" in caught.value.body["message"]
    with pytest.raises(NotFoundException):
        list(repo.ref("main~5").objects())  # older than the first commit
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        sdk.branches_api.create_branch(repo.id, BranchCreation(name="b", source="deadbeef"))
    with pytest.raises(BadRequestException) as malformed:
        repo.ref("main~x").get_commit()
    assert malformed.value.status_code == 400 and "invalid ref" in malformed.value.body["message"]
    with pytest.raises(NotFoundException):
        _ = lakefs.Repository("no-such-repo", client=lakefs_client).properties


def test_bad_credentials_are_401(
    lakefs_server: ServerProcess, repo: lakefs.Repository, access_key_id: str, make_sdk: Callable[..., LakeFSClient]
) -> None:
    wrong = Client(host=lakefs_server.url, username=access_key_id, password="wrong-secret")
    with pytest.raises(NotAuthorizedException) as caught:
        list(lakefs.repositories(client=wrong))
    assert caught.value.status_code == 401
    assert caught.value.body == {"message": "error authenticating request"}

    with pytest.raises(lakefs_sdk.exceptions.UnauthorizedException) as raw:
        make_sdk(password="wrong-secret").repositories_api.get_repository(repo.id)
    assert json.loads(raw.value.body) == {"message": "error authenticating request"}

    with pytest.raises(lakefs_sdk.exceptions.UnauthorizedException):
        make_sdk(username="", password="").objects_api.list_objects(repo.id, "main")
    wrong_fs = LakeFSFileSystem(host=lakefs_server.url, username="someone-else", password="x")
    with pytest.raises(PermissionError):
        wrong_fs.ls(f"lakefs://{repo.id}/main/", refresh=True)


def test_conflicts_and_preconditions(
    repo: lakefs.Repository, make_branch: Callable[..., lakefs.Branch], sdk: LakeFSClient, lakefs_client: Client
) -> None:
    with pytest.raises(ConflictException):
        lakefs.Repository(repo.id, client=lakefs_client).create(storage_namespace=f"local://{repo.id}")
    work = make_branch()
    with pytest.raises(ConflictException):
        repo.branch("work").create("main")
    work.object("once.txt").upload("1")
    with pytest.raises(ObjectExistsException):
        work.object("once.txt").upload("2", mode="x")
    work.commit("one")
    with pytest.raises(BadRequestException) as empty:
        work.commit("nothing to commit")
    assert "no changes" in empty.value.body["message"]

    with pytest.raises(lakefs_sdk.exceptions.ApiException) as past_end:
        sdk.objects_api.get_object(repo.id, "work", "once.txt", range="bytes=5-")
    assert past_end.value.status == 416 and past_end.value.headers["Content-Range"] == "bytes */1"
