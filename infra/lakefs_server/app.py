"""The FastAPI application: routes under ``/api/v1``, authentication, lakeFS-shaped errors."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from infra.lakefs_server.auth import Credentials
from infra.lakefs_server.blobs import BlobStore
from infra.lakefs_server.db import Database
from infra.lakefs_server.errors import ApiError
from infra.lakefs_server.guard import DEFAULT_MAX_BODY_BYTES, RequestGuard
from infra.lakefs_server.routes import branches, objects, repositories, system, ui
from infra.lakefs_server.routes.deps import current_user
from infra.lakefs_server.service import LakeFSService

API_PREFIX = "/api/v1"
# Everything under API_PREFIX, with paths as the lakeFS spec writes them.
PUBLIC_API_ROUTERS = (system.public,)
AUTHENTICATED_API_ROUTERS = (system.router, repositories.router, branches.router, objects.router)
DATABASE_FILE = "metadata.db"
log = logging.getLogger("lakefs_server")


def create_app(data_dir: Path, credentials_file: Path, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """An app serving the repositories kept in ``data_dir`` (SQLite metadata plus blobs).

    The credentials file is read and the store opened (created if new) right here, so a bad
    configuration fails before the server starts listening. Every request passes `RequestGuard`
    first: credentials are checked, and the body capped at `max_body_bytes`, before a byte of it is read.
    """
    credentials = Credentials.from_file(Path(credentials_file))
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(data_dir / DATABASE_FILE)
    db.prepare()
    blobs = BlobStore(data_dir)
    blobs.prepare()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        db.close()

    # No /docs or /openapi.json: they would be served without authentication.
    app = FastAPI(title="lakeFS-compatible server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = LakeFSService(db)
    app.state.blobs = blobs
    app.state.started_at = int(time.time())

    app.include_router(system.liveness)
    app.include_router(ui.router)  # authenticated by RequestGuard, like the API
    for router in PUBLIC_API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    for router in AUTHENTICATED_API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(current_user)])
    _install_error_handlers(app)
    public_paths = {API_PREFIX + route.path for router in PUBLIC_API_ROUTERS for route in router.routes}
    app.add_middleware(
        RequestGuard,
        credentials=credentials,
        api_prefix=API_PREFIX,
        public_paths=public_paths,
        max_body_bytes=max_body_bytes,
    )
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as lakeFS's ``{"message": ...}`` body, whatever raised it."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        if request.url.path.startswith(ui.router.prefix + "/"):
            return ui.not_found_page(exc)
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
        return JSONResponse({"message": "validation error: " + "; ".join(problems)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # Nobody reads this answer; an upload cut short has already been discarded.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return JSONResponse({"message": "client disconnected"}, status_code=400)

    @app.exception_handler(UnicodeError)
    async def not_text(request: Request, _: UnicodeError) -> JSONResponse:
        # A path or parameter with a lone surrogate (%ED%A0%80) cannot be a key, ref or name.
        return JSONResponse({"message": "path or parameter is not valid UTF-8 text"}, status_code=400)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"message": "internal server error"}, status_code=500)
