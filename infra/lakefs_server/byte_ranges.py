"""The HTTP ``Range`` header of a GET, reduced to one span of bytes."""

from __future__ import annotations

import re

from infra.lakefs_server.errors import BadRequest, RangeNotSatisfiable

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single-range header, or None to send the whole object.

    Several ranges in one header are answered with the whole object, which HTTP allows (a server
    may ignore Range) and which every client handles. A range that starts past the end is 416,
    with the object's size in Content-Range, the way the official reader expects.
    """
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        raise BadRequest(f"invalid Range header: {header!r}")
    if "," in spec:
        return None
    match = _SPEC.match(spec)
    if match is None or match.groups() == ("", ""):
        raise BadRequest(f"invalid Range header: {header!r}")
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(size - length, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        raise BadRequest(f"invalid Range header: {header!r}")
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, min(int(last), size - 1) if last else size - 1
