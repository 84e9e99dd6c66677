"""Sending a blob, or one byte range of it, as an HTTP response without loading it into memory."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

# Reads happen in a worker thread, 1 MiB at a time: few thread hand-offs per byte, flat memory.
CHUNK_BYTES = 1024 * 1024


class BlobResponse(Response):
    def __init__(
        self,
        path: Path,
        *,
        size: int,
        span: tuple[int, int] | None,
        headers: dict[str, str],
        send_body: bool = True,
    ) -> None:
        """``span`` is an inclusive byte range (a 206 answer) or None for the whole blob (200)."""
        self._path = path
        self._send_body = send_body
        self._start, end = span if span is not None else (0, size - 1)
        self._length = end - self._start + 1 if size else 0
        headers = {**headers, "Content-Length": str(self._length)}
        if span is not None:
            headers["Content-Range"] = f"bytes {self._start}-{end}/{size}"
        # No media_type: Starlette would append "; charset=utf-8" to text/* and change the
        # object's stored content type; callers put Content-Type in `headers` themselves.
        super().__init__(status_code=206 if span is not None else 200, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._send_body or self._length == 0:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        # Open before the headers go out: a missing blob is then a clean 500, not a cut-off body.
        file = await anyio.to_thread.run_sync(open, self._path, "rb")
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await anyio.to_thread.run_sync(file.seek, self._start)
            remaining = self._length
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(file.read, min(CHUNK_BYTES, remaining))
                if not chunk:
                    raise OSError(f"blob {self._path.name} is shorter than its recorded size")
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        finally:
            file.close()
