"""Health checks, server configuration and the current user."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from infra.lakefs_server.routes.deps import User
from infra.lakefs_server.service import NAMESPACE_PATTERN

# The lakeFS release whose API this server follows (the spec and lakefs-sdk 1.88). Clients read
# it as dotted integers, e.g. lakefs-spec's touch() needs at least 1.3.1.
LAKEFS_API_VERSION = "1.88.0"

liveness = APIRouter()  # at the root, like lakeFS's /_health
public = APIRouter()  # under /api/v1, without authentication
router = APIRouter()  # under /api/v1, behind authentication


@liveness.get("/_health")
def health() -> PlainTextResponse:
    """Liveness for launchers: no authentication, no store access."""
    return PlainTextResponse("alive!")


@public.get("/healthcheck", status_code=204)
def healthcheck() -> Response:
    return Response(status_code=204)


def _version_config() -> dict[str, object]:
    return {
        "version": LAKEFS_API_VERSION,
        "version_context": "lakeFS-compatible embedded server",
        "latest_version": LAKEFS_API_VERSION,
        "upgrade_recommended": False,
    }


def _storage_config() -> dict[str, object]:
    return {
        "blockstore_type": "local",
        "blockstore_namespace_example": "local://example-repository",
        "blockstore_namespace_ValidityRegex": NAMESPACE_PATTERN.pattern,
        "pre_sign_support": False,
        "pre_sign_support_ui": False,
        "import_support": False,
        "import_validity_regex": NAMESPACE_PATTERN.pattern,
        "pre_sign_multipart_upload": False,
    }


@router.get("/config")
def get_config() -> JSONResponse:
    return JSONResponse({"version_config": _version_config(), "storage_config": _storage_config()})


@router.get("/config/version")
def get_version() -> JSONResponse:
    return JSONResponse(_version_config())


@router.get("/config/storage")
def get_storage_config() -> JSONResponse:
    return JSONResponse(_storage_config())


@router.get("/user")
def get_current_user(user: User, request: Request) -> JSONResponse:
    return JSONResponse({"user": {"id": user, "creation_date": request.app.state.started_at}})
