"""Ref expressions as lakeFS clients send them, parsed without touching the store.

A ref expression is a base name followed by optional suffixes:

    main          a branch (its uncommitted changes included when reading objects)
    main@         the branch's last commit only, without uncommitted changes
    v1.0          a tag
    4f2a9c...     a commit id, or a unique prefix of one
    main~2        the first-parent ancestor two commits back (``~`` alone means ``~1``)
    abc123^2      the second parent of a merge commit (``^`` alone means ``^1``, ``^0`` the commit)

Suffixes chain left to right, e.g. ``v1.0~1^2``. Resolving the base is the service's job: a name
is looked up as a branch, then as a tag, then as a commit id or unique prefix (exact names first,
so a tag called ``cafe`` is never mistaken for a commit). This module only parses, and walks
parents through a callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infra.lakefs_server.errors import InvalidRef, NotFound

_SUFFIX = re.compile(r"([~^])(\d*)")
# Branch names as lakeFS validates them (Go's \w is ASCII only); tags may also hold dots (v1.0).
# Always used with fullmatch: `$` alone would let a trailing newline through ("dev\n").
BRANCH_NAME = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_]*")
TAG_NAME = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_.]*")
REPOSITORY_NAME = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
_HEX = re.compile(r"[0-9a-f]+")
# Shortest commit-id prefix accepted as a ref, as in git: shorter ones are too often ambiguous.
MIN_COMMIT_PREFIX = 4


@dataclass(frozen=True, slots=True)
class RefExpr:
    base: str
    modifiers: tuple[tuple[str, int], ...] = ()  # ("~", n) or ("^", n), applied in order
    committed_only: bool = False  # the ``@`` suffix

    @property
    def is_plain(self) -> bool:
        """Just a name: if it is a branch, reads include its uncommitted changes."""
        return not self.modifiers and not self.committed_only


def parse_ref(expr: str) -> RefExpr:
    """Split ``expr`` into base, ``@`` and ancestry suffixes; raise InvalidRef if malformed."""
    cut = next((i for i, ch in enumerate(expr) if ch in "~^@"), len(expr))
    base, rest = expr[:cut], expr[cut:]
    if not base or any(ch.isspace() or ch == "/" for ch in base):
        raise InvalidRef(f"invalid ref: {expr!r}")
    committed_only = rest.startswith("@")
    if committed_only:
        rest = rest[1:]
    modifiers: list[tuple[str, int]] = []
    pos = 0
    while pos < len(rest):
        match = _SUFFIX.match(rest, pos)
        if match is None:
            raise InvalidRef(f"invalid ref: {expr!r}")
        op, digits = match.groups()
        modifiers.append((op, int(digits) if digits else 1))
        pos = match.end()
    return RefExpr(base=base, modifiers=tuple(modifiers), committed_only=committed_only)


def could_be_commit_prefix(name: str) -> bool:
    return len(name) >= MIN_COMMIT_PREFIX and _HEX.fullmatch(name) is not None


def walk_ancestry(
    commit_id: str,
    modifiers: Sequence[tuple[str, int]],
    parents_of: Callable[[str], Sequence[str]],
    expr: str,
) -> str:
    """Apply ``~n`` / ``^n`` suffixes starting at ``commit_id``; NotFound if history is too short."""
    current = commit_id
    for op, n in modifiers:
        if op == "~":
            for _ in range(n):
                parents = parents_of(current)
                if not parents:
                    raise NotFound(f"ref {expr!r} not found: history is shorter than {op}{n}")
                current = parents[0]
        elif n > 0:
            parents = parents_of(current)
            if len(parents) < n:
                raise NotFound(f"ref {expr!r} not found: commit {current} has no parent number {n}")
            current = parents[n - 1]
    return current
