"""Paging through a sorted key space with ``prefix``, ``delimiter``, ``after`` and ``amount``.

This is how lakeFS lists objects and diffs: keys under ``prefix``, strictly after ``after``, at
most ``amount`` of them; with a delimiter, every key that has the delimiter after the prefix is
folded into one "common prefix" (``a/b/`` for ``a/b/c.txt`` with ``/``). Grouped keys sort in
the same order as the keys they stand for, so the last item of a page is the next ``after``.

The source is a function that yields ``(key, value)`` pairs in key order from a start key. When
a group is emitted we restart the source just past the group, so a prefix holding a million
keys costs one seek, not a million reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_AMOUNT = 100
MAX_AMOUNT = 1000


@dataclass(frozen=True, slots=True)
class Item(Generic[T]):
    key: str
    value: T  # in a listing with a delimiter, None stands for a common prefix


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[Item[T]]
    has_more: bool
    amount: int  # the page size actually used

    @property
    def next_offset(self) -> str:
        return self.items[-1].key if self.has_more and self.items else ""


def page_size(amount: int | None) -> int:
    """lakeFS's rule: missing or non-positive means the default; larger than the maximum is capped."""
    if amount is None or amount <= 0:
        return DEFAULT_AMOUNT
    return min(amount, MAX_AMOUNT)


def key_after_prefix(prefix: str) -> str:
    """The smallest key greater than every key that starts with ``prefix`` ("" if there is none)."""
    stripped = prefix.rstrip(chr(0x10FFFF))
    if not stripped:
        return ""
    following = ord(stripped[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters of a key: the next one is U+E000
        following = 0xE000
    return stripped[:-1] + chr(following)


def paginate(
    source: Callable[[str], Iterator[tuple[str, T]]],
    *,
    prefix: str = "",
    delimiter: str = "",
    after: str = "",
    amount: int | None = None,
) -> Page[T | None]:
    """One page of the keys from ``source``, grouped by ``delimiter``; see the module docstring."""
    size = page_size(amount)
    items: list[Item[T | None]] = []
    start = max(prefix, after)
    while True:
        restart_at = _fill(source(start), items, size, prefix, delimiter, after)
        if restart_at is None:
            break
        start = restart_at
    return Page(items=items[:size], has_more=len(items) > size, amount=size)


def _fill(
    entries: Iterator[tuple[str, T]],
    items: list[Item[T | None]],
    size: int,
    prefix: str,
    delimiter: str,
    after: str,
) -> str | None:
    """Append items until the page (plus one, to know if there is more) is full or the source
    ends. Returns the key to restart the source at when a common prefix was just skipped over."""
    for key, value in entries:
        if not key.startswith(prefix):
            return None  # sorted: nothing further can match the prefix
        group = None
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                group = key[: cut + len(delimiter)]
        if group is None:
            if key > after:
                items.append(Item(key, value))
                if len(items) > size:
                    return None
            continue
        if group > after:
            items.append(Item(group, None))
            if len(items) > size:
                return None
        next_key = key_after_prefix(group)
        return next_key or None
    return None
