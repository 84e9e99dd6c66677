"""lakefs:// URIs for the lifecycle: parse, format, derive."""

from __future__ import annotations

import pytest

from tasks.services.lakefs import LakeFSURI


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        ("lakefs://data-repo/main/raw/train.jsonl", ("data-repo", "main", "raw/train.jsonl")),
        ("lakefs://data-repo/main~1/raw/", ("data-repo", "main~1", "raw/")),
        ("lakefs://data-repo/v1.0/", ("data-repo", "v1.0", "")),
        ("lakefs://data-repo/4f2a9c/x", ("data-repo", "4f2a9c", "x")),
    ],
)
def test_parse_and_format_round_trip(uri: str, parts: tuple[str, str, str]) -> None:
    parsed = LakeFSURI.parse(uri)
    assert (parsed.repository, parsed.ref, parsed.path) == parts
    assert str(parsed) == uri


@pytest.mark.parametrize(
    "uri", ["s3://bucket/key", "lakefs://", "lakefs://Bad_Repo/main/x", "lakefs://repo-ok", "lakefs://ab/main/x"]
)
def test_invalid_uris_are_rejected(uri: str) -> None:
    with pytest.raises(ValueError):
        LakeFSURI.parse(uri)


def test_pin_to_commit_and_child_paths() -> None:
    uri = LakeFSURI("data-repo", "run-7", "prepared")
    assert str(uri.child("train.parquet")) == "lakefs://data-repo/run-7/prepared/train.parquet"
    assert str(uri.child("x").at("abc123")) == "lakefs://data-repo/abc123/prepared/x"
