"""Objects: upload, read (whole or by range), HEAD, stat, list, delete, copy."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from infra.lakefs_server import serialize
from infra.lakefs_server.blob_response import BlobResponse
from infra.lakefs_server.byte_ranges import parse_range
from infra.lakefs_server.entries import Entry, encode_metadata
from infra.lakefs_server.routes.deps import Blobs, Service
from infra.lakefs_server.schemas import ObjectCopyCreation, PathList, UpdateObjectUserMetadata
from infra.lakefs_server.uploads import receive_upload, user_metadata

router = APIRouter()
REF_OBJECTS = "/repositories/{repository}/refs/{ref}/objects"
BRANCH_OBJECTS = "/repositories/{repository}/branches/{branch}/objects"


@router.api_route(REF_OBJECTS, methods=["GET", "HEAD"])
def get_object(
    request: Request,
    service: Service,
    blobs: Blobs,
    repository: str,
    ref: str,
    path: str,
    presign: bool | None = None,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    entry = service.stat_object(repository, ref, path)
    headers = {
        "ETag": f'"{entry.checksum}"',
        "Last-Modified": formatdate(entry.mtime, usegmt=True),
        "Accept-Ranges": "bytes",
    }
    if request.method == "GET" and if_none_match and if_none_match.strip('"') == entry.checksum:
        return Response(status_code=304, headers=headers)
    # The spec types object content as application/octet-stream; the stored content type is
    # reported by stat and listings.
    headers["Content-Type"] = "application/octet-stream"
    return BlobResponse(
        blobs.path(entry.address),
        size=entry.size,
        span=parse_range(range_header, entry.size),
        headers=headers,
        send_body=request.method == "GET",
    )


@router.get(REF_OBJECTS + "/stat")
def stat_object(
    service: Service, repository: str, ref: str, path: str, user_metadata: bool = True, presign: bool | None = None
) -> JSONResponse:
    entry = service.stat_object(repository, ref, path)
    return JSONResponse(serialize.object_stats(path, entry, with_metadata=user_metadata))


@router.get(REF_OBJECTS + "/ls")
def list_objects(
    service: Service,
    repository: str,
    ref: str,
    prefix: str = "",
    delimiter: str = "",
    after: str = "",
    amount: int | None = None,
    user_metadata: bool = True,
    presign: bool | None = None,
) -> JSONResponse:
    page = service.list_objects(repository, ref, prefix=prefix, delimiter=delimiter, after=after, amount=amount)

    def render(key: str, entry: Entry | None) -> dict[str, object]:
        if entry is None:
            return serialize.common_prefix(key)
        return serialize.object_stats(key, entry, with_metadata=user_metadata)

    return JSONResponse(serialize.page(page, render))


@router.get(REF_OBJECTS + "/underlyingProperties")
def get_underlying_properties(service: Service, repository: str, ref: str, path: str) -> JSONResponse:
    service.stat_object(repository, ref, path)
    return JSONResponse({"storage_class": None})


@router.post(BRANCH_OBJECTS, status_code=201)
async def upload_object(
    request: Request,
    service: Service,
    blobs: Blobs,
    repository: str,
    branch: str,
    path: str,
    force: bool = False,
    storageClass: str | None = None,
    if_none_match: Annotated[str | None, Header()] = None,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Stream the body to disk, then stage it. Checks run before the body is read, and again
    (atomically with staging) after."""
    await run_in_threadpool(service.check_upload_allowed, repository, branch, path, force=force)
    received = await receive_upload(request, blobs)
    entry = Entry(
        address=received.blob.address,
        size=received.blob.size,
        checksum=received.blob.checksum,
        mtime=int(time.time()),
        content_type=received.content_type,
        metadata=encode_metadata(user_metadata(request)),
    )
    await run_in_threadpool(
        service.stage_object,
        repository,
        branch,
        path,
        entry,
        force=force,
        if_none_match=if_none_match,
        if_match=if_match,
    )
    return JSONResponse(serialize.object_stats(path, entry), status_code=201)


@router.get(BRANCH_OBJECTS + "/stage_allowed", status_code=204)
def upload_object_preflight(service: Service, repository: str, branch: str, path: str) -> Response:
    service.check_upload_allowed(repository, branch, path, force=False)
    return Response(status_code=204)


@router.delete(BRANCH_OBJECTS, status_code=204)
def delete_object(
    service: Service, repository: str, branch: str, path: str, force: bool = False, no_tombstone: bool = False
) -> Response:
    service.delete_objects(repository, branch, [path], force=force)
    return Response(status_code=204)


@router.post(BRANCH_OBJECTS + "/delete")
def delete_objects(
    service: Service, repository: str, branch: str, body: PathList, force: bool = False, no_tombstone: bool = False
) -> JSONResponse:
    service.delete_objects(repository, branch, body.paths, force=force)
    return JSONResponse({"errors": []})


@router.post(BRANCH_OBJECTS + "/copy", status_code=201)
def copy_object(
    service: Service, repository: str, branch: str, dest_path: str, body: ObjectCopyCreation
) -> JSONResponse:
    entry = service.copy_object(
        repository, branch, dest_path, body.src_path, body.src_ref or None, force=bool(body.force)
    )
    return JSONResponse(serialize.object_stats(dest_path, entry), status_code=201)


@router.put(BRANCH_OBJECTS + "/stat/user_metadata", status_code=201)
def update_object_user_metadata(
    service: Service, repository: str, branch: str, path: str, body: UpdateObjectUserMetadata
) -> Response:
    service.set_user_metadata(repository, branch, path, body.set)
    return Response(status_code=201)
