"""What every request meets before the application reads a byte of its body.

    authentication   a request under /api/v1 (but the public health check) or the HTML view /ui with no valid basic-auth
                     credentials gets 401 from its headers alone: the body is never read
    body size        a declared Content-Length over the cap gets 413 at once; a body without one
                     (chunked) is counted as it arrives and the request ends with 413 when it passes the cap

A plain ASGI wrapper around the FastAPI app, so nothing in the app (dependencies, body parsing,
multipart streaming) runs for a request that is refused here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from infra.lakefs_server.auth import Credentials
from infra.lakefs_server.errors import Unauthorized

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Large enough for any object a pipeline stores (a dataset shard, an adapter), small enough that a
# flood from a holder of the key ends long before the disk does. `--max-body-bytes` changes it.
DEFAULT_MAX_BODY_BYTES = 5 * 1024**3
USER_STATE = "user_id"  # where the authenticated user's id is kept in the request's state
log = logging.getLogger("lakefs_server")


UI_PREFIX = "/ui"  # the read-only HTML view (routes/ui.py): the same credentials as the API


class RequestGuard:
    def __init__(
        self, app: App, credentials: Credentials, *, api_prefix: str, public_paths: set[str], max_body_bytes: int
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        self.app, self.credentials = app, credentials
        self.api_prefix, self.public_paths, self.max_body_bytes = api_prefix, public_paths, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        ui = path == UI_PREFIX or path.startswith(UI_PREFIX + "/")
        if (path.startswith(self.api_prefix) and path not in self.public_paths) or ui:
            try:
                user_id = self.credentials.authenticate(headers.get("authorization"))
            except Unauthorized as exc:
                # a browser asks for the key pair (access key id as user name, secret as password)
                challenge = [(b"www-authenticate", b'Basic realm="lakeFS-compatible server"')] if ui else []
                await _answer(send, 401, exc.message, challenge)
                return
            scope.setdefault("state", {})[USER_STATE] = user_id  # request.state.user_id, for the routes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _answer(send, 413, self._too_large(int(declared)))
            return
        await self._counted(scope, receive, send)

    def _too_large(self, size: int | None = None) -> str:
        got = f"{size:,} bytes" if size is not None else "more"
        return f"request body too large: {got}, the limit is {self.max_body_bytes:,} (the server's --max-body-bytes)"

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a receive that stops the body at the cap, and answer 413 in its place then."""
        seen, over, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    over = True
                    return {"type": "http.disconnect"}  # the app stops reading, as if the client had gone
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's answer to the cut body is replaced by the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            log.warning(
                "%s %s: body passed %s bytes, refused", scope.get("method"), scope.get("path"), self.max_body_bytes
            )
            await _answer(send, 413, self._too_large())


async def _answer(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
