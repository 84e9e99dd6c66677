"""Ref expressions as clients send them: parsing and walking ancestry, without a server."""

from __future__ import annotations

import pytest

from infra.lakefs_server.errors import InvalidRef, NotFound
from infra.lakefs_server.refs import RefExpr, could_be_commit_prefix, parse_ref, walk_ancestry


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("main", RefExpr("main")),
        ("main~2", RefExpr("main", (("~", 2),))),
        ("main~", RefExpr("main", (("~", 1),))),
        ("abc^", RefExpr("abc", (("^", 1),))),
        ("abc^2", RefExpr("abc", (("^", 2),))),
        ("v1.0~1^2~3", RefExpr("v1.0", (("~", 1), ("^", 2), ("~", 3)))),
        ("main@", RefExpr("main", committed_only=True)),
        ("main@~1", RefExpr("main", (("~", 1),), committed_only=True)),
        ("feature-x^0", RefExpr("feature-x", (("^", 0),))),
    ],
)
def test_parse_ref(expr: str, expected: RefExpr) -> None:
    assert parse_ref(expr) == expected


@pytest.mark.parametrize("expr", ["", "~1", "@", "main~x", "main@@", "main~1@", "a b", "a/b", "main^-1"])
def test_parse_ref_rejects_malformed(expr: str) -> None:
    with pytest.raises(InvalidRef):
        parse_ref(expr)


def test_only_plain_names_read_staged_changes() -> None:
    assert parse_ref("main").is_plain
    assert not parse_ref("main@").is_plain
    assert not parse_ref("main~1").is_plain


# A small history:  c1 <- c2 <- c3 <- m  where m is a merge of c3 (first parent) and f1 (second),
# and f1's parent is c1.
PARENTS = {"c1": (), "c2": ("c1",), "c3": ("c2",), "f1": ("c1",), "m": ("c3", "f1")}


@pytest.mark.parametrize(
    ("start", "expr", "expected"),
    [
        ("m", "m", "m"),
        ("m", "m~1", "c3"),
        ("m", "m~3", "c1"),
        ("m", "m^", "c3"),
        ("m", "m^2", "f1"),
        ("m", "m^2~1", "c1"),
        ("m", "m^0", "m"),
        ("c3", "c3~2", "c1"),
    ],
)
def test_walk_ancestry(start: str, expr: str, expected: str) -> None:
    assert walk_ancestry(start, parse_ref(expr).modifiers, PARENTS.__getitem__, expr) == expected


@pytest.mark.parametrize("expr", ["m~4", "c1^", "c3^2", "m^3"])
def test_walk_ancestry_past_history_is_not_found(expr: str) -> None:
    ref = parse_ref(expr)
    with pytest.raises(NotFound):
        walk_ancestry(ref.base, ref.modifiers, PARENTS.__getitem__, expr)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("4f2a", True), ("4f2a9c01", True), ("4f2", False), ("main", False), ("4F2A", False), ("v1.0", False)],
)
def test_commit_prefix_shape(name: str, expected: bool) -> None:
    assert could_be_commit_prefix(name) is expected
