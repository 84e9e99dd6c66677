"""What routes get injected: the service, the blob store, the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from infra.lakefs_server.blobs import BlobStore
from infra.lakefs_server.service import LakeFSService

# These are coroutines only so that FastAPI runs them on the event loop: none of them blocks, and
# a plain function would cost a hop to the thread pool on every request.


async def get_service(request: Request) -> LakeFSService:
    return request.app.state.service


async def get_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs


async def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The user id for the request's basic-auth credentials; 401 otherwise."""
    return request.app.state.credentials.authenticate(authorization)


Service = Annotated[LakeFSService, Depends(get_service)]
Blobs = Annotated[BlobStore, Depends(get_blobs)]
User = Annotated[str, Depends(current_user)]
