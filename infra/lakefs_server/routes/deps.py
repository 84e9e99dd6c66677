"""What routes get injected: the service, the blob store, the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from infra.lakefs_server.blobs import BlobStore
from infra.lakefs_server.errors import Unauthorized
from infra.lakefs_server.guard import USER_STATE
from infra.lakefs_server.service import LakeFSService

# These are coroutines only so that FastAPI runs them on the event loop: none of them blocks, and
# a plain function would cost a hop to the thread pool on every request.


async def get_service(request: Request) -> LakeFSService:
    return request.app.state.service


async def get_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs


async def current_user(request: Request) -> str:
    """The user id of the request's credentials, which `RequestGuard` checked before the body was read."""
    user_id = getattr(request.state, USER_STATE, None)
    if user_id is None:  # a route under /api/v1 the guard did not cover: refuse rather than serve it
        raise Unauthorized("error authenticating request")
    return user_id


Service = Annotated[LakeFSService, Depends(get_service)]
Blobs = Annotated[BlobStore, Depends(get_blobs)]
User = Annotated[str, Depends(current_user)]
