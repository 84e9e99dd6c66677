"""Listing pages with prefix, delimiter, after and amount: lakeFS's semantics on a plain list."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

import pytest

from infra.lakefs_server.listing import MAX_AMOUNT, Page, key_after_prefix, page_size, paginate

KEYS = sorted(
    [
        "a.txt",
        "a/1.txt",
        "a/2.txt",
        "a/b/3.txt",
        "a/b/4.txt",
        "a0.txt",
        "b/5.txt",
        "c.txt",
        "data/x/y/z.bin",
    ]
)


class Source:
    """A sorted key list that counts how often it is (re)started, like a store seek."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.starts = 0

    def __call__(self, start: str) -> Iterator[tuple[str, str]]:
        self.starts += 1
        for key in self.keys[bisect_left(self.keys, start) :]:
            yield key, f"value-of-{key}"


def names(page: Page[str | None]) -> list[str]:
    return [item.key + ("(dir)" if item.value is None else "") for item in page.items]


def test_flat_listing_returns_everything_in_order() -> None:
    page = paginate(Source(KEYS))
    assert [i.key for i in page.items] == KEYS
    assert not page.has_more and page.next_offset == ""


def test_delimiter_folds_directories() -> None:
    page = paginate(Source(KEYS), delimiter="/")
    assert names(page) == ["a.txt", "a/(dir)", "a0.txt", "b/(dir)", "c.txt", "data/(dir)"]


def test_prefix_and_delimiter_list_one_directory_level() -> None:
    page = paginate(Source(KEYS), prefix="a/", delimiter="/")
    assert names(page) == ["a/1.txt", "a/2.txt", "a/b/(dir)"]


def test_prefix_without_slash_matches_key_prefixes() -> None:
    assert [i.key for i in paginate(Source(KEYS), prefix="a").items] == [k for k in KEYS if k.startswith("a")]


def test_pages_chain_through_next_offset() -> None:
    seen: list[str] = []
    after = ""
    pages = 0
    while True:
        page = paginate(Source(KEYS), delimiter="/", after=after, amount=2)
        seen += names(page)
        pages += 1
        if not page.has_more:
            break
        after = page.next_offset
    assert seen == ["a.txt", "a/(dir)", "a0.txt", "b/(dir)", "c.txt", "data/(dir)"]
    assert pages == 3


def test_after_a_common_prefix_skips_everything_under_it() -> None:
    page = paginate(Source(KEYS), delimiter="/", after="a/")
    assert names(page)[0] == "a0.txt"


def test_after_is_exclusive() -> None:
    assert paginate(Source(KEYS), after="a/2.txt").items[0].key == "a/b/3.txt"


def test_a_large_directory_costs_one_seek_not_one_read_per_key() -> None:
    keys = sorted([f"big/{i:06d}" for i in range(50_000)] + ["z.txt"])
    source = Source(keys)
    page = paginate(source, delimiter="/")
    assert names(page) == ["big/(dir)", "z.txt"]
    assert source.starts == 2


def test_values_are_kept_for_objects_and_empty_for_prefixes() -> None:
    page = paginate(Source(KEYS), prefix="a/", delimiter="/")
    assert page.items[0].value == "value-of-a/1.txt"
    assert page.items[-1].value is None


@pytest.mark.parametrize(("amount", "expected"), [(None, 100), (-1, 100), (0, 100), (5, 5), (10_000, MAX_AMOUNT)])
def test_page_size_rules(amount: int | None, expected: int) -> None:
    assert page_size(amount) == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    # U+D7FF is followed by the surrogates, which no key holds (and SQLite cannot store): U+E000 is next.
    [("a/", "a0"), ("abc", "abd"), ("", ""), ("a\ud7ff", "a\ue000"), ("\ud7ff", "\ue000")],
)
def test_key_after_prefix(prefix: str, expected: str) -> None:
    assert key_after_prefix(prefix) == expected
