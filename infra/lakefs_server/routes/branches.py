"""Branches, tags, commits, logs, diffs and merges."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from infra.lakefs_server import serialize
from infra.lakefs_server.errors import BadRequest
from infra.lakefs_server.routes.deps import Service, User
from infra.lakefs_server.schemas import (
    BranchCreation,
    CherryPickCreation,
    CommitCreation,
    Merge,
    ResetCreation,
    RevertCreation,
    TagCreation,
)

router = APIRouter()
REPO = "/repositories/{repository}"
BRANCH = REPO + "/branches/{branch}"


# ------------------------------------------------------------------------------------- branches


@router.get(REPO + "/branches")
def list_branches(
    service: Service,
    repository: str,
    prefix: str = "",
    after: str = "",
    amount: int | None = None,
    show_hidden: bool = False,
) -> JSONResponse:
    page = service.list_branches(repository, prefix=prefix, after=after, amount=amount, show_hidden=show_hidden)
    return JSONResponse(serialize.page(page, serialize.ref))


@router.post(REPO + "/branches", status_code=201)
def create_branch(service: Service, repository: str, body: BranchCreation) -> PlainTextResponse:
    commit_id = service.create_branch(
        repository, body.name, body.source, force=bool(body.force), hidden=bool(body.hidden)
    )
    # lakeFS answers with the commit id as text (the spec says text/html).
    return PlainTextResponse(commit_id, status_code=201, media_type="text/html")


@router.get(BRANCH)
def get_branch(service: Service, repository: str, branch: str) -> JSONResponse:
    return JSONResponse(serialize.ref(branch, service.get_branch(repository, branch)))


@router.delete(BRANCH, status_code=204)
def delete_branch(service: Service, repository: str, branch: str, force: bool = False) -> Response:
    service.delete_branch(repository, branch, force=force)
    return Response(status_code=204)


@router.put(BRANCH, status_code=204)
def reset_branch(service: Service, repository: str, branch: str, body: ResetCreation) -> Response:
    service.reset_branch(repository, branch, body.type, body.path, force=bool(body.force))
    return Response(status_code=204)


@router.put(BRANCH + "/hard_reset", status_code=204)
def hard_reset_branch(service: Service, repository: str, branch: str, ref: str, force: bool = False) -> Response:
    service.hard_reset_branch(repository, branch, ref, force=force)
    return Response(status_code=204)


@router.post(BRANCH + "/revert", status_code=204)
def revert_branch(service: Service, user: User, repository: str, branch: str, body: RevertCreation) -> Response:
    overrides = body.commit_overrides
    service.revert(
        repository,
        branch,
        body.ref,
        body.parent_number,
        committer=user,
        message=overrides.message if overrides else None,
        metadata=overrides.metadata if overrides else None,
        force=bool(body.force),
        allow_empty=bool(body.allow_empty),
    )
    return Response(status_code=204)


@router.post(BRANCH + "/cherry-pick", status_code=201)
def cherry_pick(service: Service, user: User, repository: str, branch: str, body: CherryPickCreation) -> JSONResponse:
    overrides = body.commit_overrides
    commit = service.cherry_pick(
        repository,
        branch,
        body.ref,
        body.parent_number,
        committer=user,
        message=overrides.message if overrides else None,
        metadata=overrides.metadata if overrides else None,
        force=bool(body.force),
    )
    return JSONResponse(serialize.commit(commit), status_code=201)


# -------------------------------------------------------------------------------------- commits


@router.post(BRANCH + "/commits", status_code=201)
def commit(
    service: Service,
    user: User,
    repository: str,
    branch: str,
    body: CommitCreation,
    source_metarange: str | None = None,
) -> JSONResponse:
    if source_metarange:
        raise BadRequest("committing a source metarange is not supported by this server")
    created = service.commit(
        repository,
        branch,
        message=body.message,
        metadata=body.metadata or {},
        committer=user,
        date=body.date,
        allow_empty=bool(body.allow_empty),
        force=bool(body.force),
    )
    return JSONResponse(serialize.commit(created), status_code=201)


@router.get(REPO + "/commits/{commitId}")
def get_commit(service: Service, repository: str, commitId: str) -> JSONResponse:
    return JSONResponse(serialize.commit(service.get_commit(repository, commitId)))


@router.get(REPO + "/refs/{ref}/commits")
def log_commits(
    service: Service,
    repository: str,
    ref: str,
    after: str = "",
    amount: int | None = None,
    objects: Annotated[list[str] | None, Query()] = None,
    prefixes: Annotated[list[str] | None, Query()] = None,
    limit: bool | None = None,
    first_parent: bool = False,
    since: datetime | None = None,
    stop_at: str | None = None,
) -> JSONResponse:
    page = service.log_commits(
        repository,
        ref,
        after=after,
        amount=amount,
        objects=objects or (),
        prefixes=prefixes or (),
        first_parent=first_parent,
        since=int(since.timestamp()) if since else None,
        stop_at=stop_at or None,
        limit=bool(limit),
    )
    return JSONResponse(serialize.page(page, lambda _, c: serialize.commit(c)))


# ---------------------------------------------------------------------------------------- diffs


@router.get(BRANCH + "/diff")
def diff_branch(
    service: Service,
    repository: str,
    branch: str,
    after: str = "",
    amount: int | None = None,
    prefix: str = "",
    delimiter: str = "",
) -> JSONResponse:
    page = service.diff_branch(repository, branch, prefix=prefix, delimiter=delimiter, after=after, amount=amount)
    return JSONResponse(serialize.page(page, serialize.uncommitted_diff))


@router.get(REPO + "/refs/{leftRef}/diff/{rightRef}")
def diff_refs(
    service: Service,
    repository: str,
    leftRef: str,
    rightRef: str,
    after: str = "",
    amount: int | None = None,
    prefix: str = "",
    delimiter: str = "",
    type: Literal["two_dot", "three_dot"] = "three_dot",
    include_right_stats: bool = False,
) -> JSONResponse:
    page = service.diff_refs(
        repository,
        leftRef,
        rightRef,
        three_dot=type == "three_dot",
        prefix=prefix,
        delimiter=delimiter,
        after=after,
        amount=amount,
    )
    return JSONResponse(serialize.page(page, serialize.diff))


# --------------------------------------------------------------------------------------- merges


@router.post(REPO + "/refs/{sourceRef}/merge/{destinationBranch}")
def merge_into_branch(
    service: Service,
    user: User,
    repository: str,
    sourceRef: str,
    destinationBranch: str,
    body: Annotated[Merge | None, Body()] = None,
) -> JSONResponse:
    body = body or Merge()
    merged = service.merge(
        repository,
        sourceRef,
        destinationBranch,
        committer=user,
        message=body.message,
        metadata=body.metadata,
        strategy=body.strategy,
        force=bool(body.force),
        allow_empty=bool(body.allow_empty),
        squash=bool(body.squash_merge),
    )
    return JSONResponse({"reference": merged.id})


@router.get(REPO + "/refs/{sourceRef}/merge/{destinationBranch}")
def find_merge_base(service: Service, repository: str, sourceRef: str, destinationBranch: str) -> JSONResponse:
    found = service.find_merge_base(repository, sourceRef, destinationBranch)
    return JSONResponse(
        {
            "source_commit_id": found.source.id,
            "destination_commit_id": found.destination.id,
            "base_commit_id": found.base.id if found.base else "",
        }
    )


# ----------------------------------------------------------------------------------------- tags


@router.get(REPO + "/tags")
def list_tags(
    service: Service, repository: str, prefix: str = "", after: str = "", amount: int | None = None
) -> JSONResponse:
    page = service.list_tags(repository, prefix=prefix, after=after, amount=amount)
    return JSONResponse(serialize.page(page, serialize.ref))


@router.post(REPO + "/tags", status_code=201)
def create_tag(service: Service, repository: str, body: TagCreation) -> JSONResponse:
    commit_id = service.create_tag(repository, body.id, body.ref, force=bool(body.force))
    return JSONResponse(serialize.ref(body.id, commit_id), status_code=201)


@router.get(REPO + "/tags/{tag}")
def get_tag(service: Service, repository: str, tag: str) -> JSONResponse:
    return JSONResponse(serialize.ref(tag, service.get_tag(repository, tag)))


@router.delete(REPO + "/tags/{tag}", status_code=204)
def delete_tag(service: Service, repository: str, tag: str, force: bool = False) -> Response:
    service.delete_tag(repository, tag, force=force)
    return Response(status_code=204)
