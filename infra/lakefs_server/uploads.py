"""Receiving an upload body, raw or multipart, straight into the blob store.

The official clients send both shapes: the high-level ``lakefs`` package posts the raw bytes
(``application/octet-stream`` or the object's own content type), ``lakefs-sdk`` posts
``multipart/form-data`` with one part named ``content``. Either way the body is consumed as it
arrives, a few megabytes at a time, so a 1 GiB upload never sits in memory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from infra.lakefs_server.blobs import BlobStore, BlobWriter, StoredBlob
from infra.lakefs_server.errors import BadRequest

# Hashing and writing happen in a worker thread, in batches this size: large enough that the
# hand-off to the thread is cheap per byte, small enough that memory stays flat (two batches
# at most: one being written, one filling).
FLUSH_BYTES = 4 * 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
USER_METADATA_PREFIX = "x-lakefs-meta-"


@dataclass(frozen=True, slots=True)
class ReceivedUpload:
    blob: StoredBlob
    content_type: str


async def receive_upload(request: Request, blobs: BlobStore) -> ReceivedUpload:
    """Stream the request body into a new blob and return it with the object's content type."""
    content_type = request.headers.get("content-type", "")
    writer = blobs.new_writer()
    batcher = _Batcher(writer)
    try:
        if content_type.lower().startswith("multipart/form-data"):
            object_type = await _receive_multipart(request, content_type, batcher)
        else:
            async for chunk in request.stream():
                await batcher.add(chunk)
            object_type = content_type or DEFAULT_CONTENT_TYPE
        await batcher.flush()
        blob = await anyio.to_thread.run_sync(writer.finish)
    except BaseException:
        try:
            await batcher.settle()
        finally:
            writer.abort()  # client gone or bad body: leave nothing behind
        raise
    return ReceivedUpload(blob=blob, content_type=object_type)


def user_metadata(request: Request) -> dict[str, str]:
    """``X-Lakefs-Meta-<key>`` headers, as the high-level client sends object metadata.

    HTTP header names are case-insensitive and arrive lower-cased, so keys are lower case.
    """
    return {
        name[len(USER_METADATA_PREFIX) :]: value
        for name, value in request.headers.items()
        if name.startswith(USER_METADATA_PREFIX) and len(name) > len(USER_METADATA_PREFIX)
    }


class _Batcher:
    """Hands the body to the blob writer in large batches, one batch in flight at a time, so
    hashing and writing (in a worker thread) overlap with receiving the next batch."""

    def __init__(self, writer: BlobWriter) -> None:
        self._writer = writer
        self._chunks: list[bytes] = []
        self._size = 0
        self._in_flight: asyncio.Future[None] | None = None

    async def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size >= FLUSH_BYTES:
            await self._hand_off()

    async def flush(self) -> None:
        """Write whatever is left and wait until everything is written."""
        if self._chunks:
            await self._hand_off()
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def settle(self) -> None:
        """After a failure: wait for the batch in flight so the file can be removed safely."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await asyncio.wait([in_flight])
            if not in_flight.cancelled():
                in_flight.exception()  # retrieved: the original failure is what gets reported

    async def _hand_off(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight  # at most one batch written while the next one fills
        chunks, self._chunks, self._size = self._chunks, [], 0
        self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._writer.write, chunks)


@dataclass
class _PartState:
    """What the streaming multipart parser has seen so far."""

    field_name: bytearray = field(default_factory=bytearray)
    field_value: bytearray = field(default_factory=bytearray)
    headers: dict[str, str] = field(default_factory=dict)
    capturing: bool = False
    found: bool = False
    ended: bool = False  # the closing boundary arrived
    content_type: str = DEFAULT_CONTENT_TYPE
    pending: list[bytes] = field(default_factory=list)


async def _receive_multipart(request: Request, content_type: str, batcher: _Batcher) -> str:
    """Keep the bytes of the part named ``content``; other parts are ignored."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart upload without a boundary")
    state = _PartState()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.field_name += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.field_value += data[start:end]

    def on_header_end() -> None:
        state.headers[state.field_name.decode("latin-1").lower()] = state.field_value.decode("latin-1")
        state.field_name.clear()
        state.field_value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state.headers.get("content-disposition", ""))
        state.capturing = disposition.get(b"name") == b"content" and not state.found
        if state.capturing:
            state.found = True
            state.content_type = state.headers.get("content-type") or DEFAULT_CONTENT_TYPE
        state.headers = {}

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.capturing:
            state.pending.append(bytes(data[start:end]))

    def on_part_end() -> None:
        state.capturing = False

    def on_end() -> None:
        state.ended = True

    callbacks = {
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
        "on_end": on_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
            for piece in state.pending:
                await batcher.add(piece)
            state.pending.clear()
        parser.finalize()
    except FormParserError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from exc
    if not state.ended:
        # Cut short (a dropped connection, a proxy's limit): the part read so far is not the object.
        raise BadRequest("multipart body ends before its closing boundary; nothing was stored, send it again")
    if not state.found:
        raise BadRequest("multipart upload has no part named 'content'")
    return state.content_type
