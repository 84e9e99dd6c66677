"""Range headers reduced to one span of bytes, with lakeFS's 416 for ranges past the end."""

from __future__ import annotations

import pytest

from infra.lakefs_server.byte_ranges import parse_range
from infra.lakefs_server.errors import BadRequest, RangeNotSatisfiable


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-3", 10, (0, 3)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=0-0,5-6", 10, None),  # several ranges: the whole object, as HTTP allows
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=0-", 0), ("bytes=-0", 10), ("bytes=-5", 0)])
def test_unsatisfiable_ranges_carry_the_size(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, size)
    assert caught.value.headers["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["items=0-1", "bytes=", "bytes=a-b", "bytes=5-2", "bytes=-"])
def test_malformed_ranges_are_bad_requests(header: str) -> None:
    with pytest.raises(BadRequest):
        parse_range(header, 10)
