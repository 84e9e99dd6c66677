"""Requests the official clients would never send, for the security tests: large bodies, early answers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

MiB = 1024 * 1024


def zeros(total: int, piece: int = MiB) -> Iterator[bytes]:
    """`total` bytes of body, streamed `piece` bytes at a time (httpx sends it chunked)."""
    block = b"0" * piece
    for _ in range(total // piece):
        yield block


def post(url: str, **kwargs) -> httpx.Response | None:
    """The answer, or None when the server closed the connection before the client finished sending."""
    try:
        return httpx.post(url, timeout=60, **kwargs)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        return None
