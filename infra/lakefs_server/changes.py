"""Change algebra on sorted streams of entries: diff, apply, three-way merge. Pure functions.

A *change* says what happened to one path between two trees: ``before`` and ``after`` are the
entries on each side, ``None`` where the path is absent. Streams are sorted by path, so every
operation here is a single merge-join pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from infra.lakefs_server.entries import Entry, same

# lakeFS's merge strategies: on a conflict, keep the destination's or the source's version.
Strategy = Literal["dest-wins", "source-wins"]


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    before: Entry | None
    after: Entry | None

    @property
    def kind(self) -> Literal["added", "removed", "changed"]:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"


@dataclass(slots=True)
class MergeOutcome:
    to_apply: list[tuple[str, Entry | None]] = field(default_factory=list)  # onto the destination
    conflicts: list[str] = field(default_factory=list)


def diff_sorted(left: Iterable[tuple[str, Entry]], right: Iterable[tuple[str, Entry]]) -> Iterator[Change]:
    """Changes that turn ``left`` into ``right``; paths with the same content on both sides are skipped."""
    lit, rit = iter(left), iter(right)
    lcur, rcur = next(lit, None), next(rit, None)
    while lcur is not None or rcur is not None:
        if rcur is None or (lcur is not None and lcur[0] < rcur[0]):
            assert lcur is not None
            yield Change(lcur[0], lcur[1], None)
            lcur = next(lit, None)
        elif lcur is None or rcur[0] < lcur[0]:
            yield Change(rcur[0], None, rcur[1])
            rcur = next(rit, None)
        else:
            if not lcur[1].same_content(rcur[1]):
                yield Change(lcur[0], lcur[1], rcur[1])
            lcur, rcur = next(lit, None), next(rit, None)


def apply_sorted(
    entries: Iterable[tuple[str, Entry]], changes: Sequence[tuple[str, Entry | None]]
) -> tuple[list[tuple[str, Entry]], int]:
    """``entries`` with ``changes`` applied (``None`` deletes), and how many changes had an effect.

    A change to the same content keeps the existing entry, so identical re-uploads leave the
    tree (and its content hash) untouched.
    """
    out: list[tuple[str, Entry]] = []
    effective = 0
    it = iter(entries)
    cur = next(it, None)
    for path, value in changes:
        while cur is not None and cur[0] < path:
            out.append(cur)
            cur = next(it, None)
        existing = cur[1] if cur is not None and cur[0] == path else None
        if existing is not None:
            cur = next(it, None)
        if value is None:
            effective += existing is not None
        elif existing is not None and existing.same_content(value):
            out.append((path, existing))
        else:
            out.append((path, value))
            effective += 1
    while cur is not None:
        out.append(cur)
        cur = next(it, None)
    return out, effective


def three_way_merge(source: Iterable[Change], dest: Iterable[Change], strategy: Strategy | None = None) -> MergeOutcome:
    """Combine changes made on the source and on the destination since their common base.

    ``source`` and ``dest`` are diffs from the merge base. A path changed only on the source is
    applied to the destination; a path changed only on the destination stays; a path changed on
    both sides to different content is a conflict unless ``strategy`` picks a winner.
    """
    outcome = MergeOutcome()
    sit, dit = iter(source), iter(dest)
    scur, dcur = next(sit, None), next(dit, None)
    while scur is not None:
        while dcur is not None and dcur.path < scur.path:
            dcur = next(dit, None)
        if dcur is None or dcur.path != scur.path:
            outcome.to_apply.append((scur.path, scur.after))
        elif not same(scur.after, dcur.after):
            if strategy == "source-wins":
                outcome.to_apply.append((scur.path, scur.after))
            elif strategy is None:
                outcome.conflicts.append(scur.path)
        scur = next(sit, None)
    return outcome
