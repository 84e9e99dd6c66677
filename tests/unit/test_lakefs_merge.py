"""Diff, apply and three-way merge on sorted entry streams (pure functions, no store)."""

from __future__ import annotations

import pytest

from infra.lakefs_server.changes import Change, apply_sorted, diff_sorted, three_way_merge
from infra.lakefs_server.entries import Entry


def entry(content: str, mtime: int = 1, metadata: str = "{}") -> Entry:
    return Entry(
        address=f"sha-{content}",
        size=len(content),
        checksum=f"md5-{content}",
        mtime=mtime,
        content_type="text/plain",
        metadata=metadata,
    )


def tree(**files: str) -> list[tuple[str, Entry]]:
    return sorted((path.replace("__", "/"), entry(content)) for path, content in files.items())


def test_diff_reports_added_removed_changed_in_path_order() -> None:
    left = tree(a="1", b="2", c="3")
    right = tree(b="2", c="30", d="4")
    changes = list(diff_sorted(left, right))
    assert [(c.path, c.kind) for c in changes] == [("a", "removed"), ("c", "changed"), ("d", "added")]


def test_diff_ignores_upload_time_but_not_metadata() -> None:
    assert not list(diff_sorted([("a", entry("1", mtime=1))], [("a", entry("1", mtime=99))]))
    assert list(diff_sorted([("a", entry("1"))], [("a", entry("1", metadata='{"k":"v"}'))]))


def test_apply_counts_only_effective_changes() -> None:
    base = tree(a="1", b="2")
    out, effective = apply_sorted(base, [("a", entry("1", mtime=50)), ("b", None), ("c", entry("3")), ("z", None)])
    assert [p for p, _ in out] == ["a", "c"]
    assert out[0][1].mtime == 1  # identical content keeps the stored entry
    assert effective == 2


def changes_between(base: list[tuple[str, Entry]], other: list[tuple[str, Entry]]) -> list[Change]:
    return list(diff_sorted(base, other))


BASE = tree(shared="0", only_src="0", only_dst="0", both_same="0", both_diff="0")


def test_three_way_merge_takes_source_changes_and_keeps_destination_changes() -> None:
    src = tree(shared="0", only_src="S", only_dst="0", both_same="X", both_diff="0", new_src="N")
    dst = tree(shared="0", only_src="0", only_dst="D", both_same="X", both_diff="0")
    outcome = three_way_merge(changes_between(BASE, src), changes_between(BASE, dst))
    assert outcome.conflicts == []
    assert dict((p, e and e.address) for p, e in outcome.to_apply) == {"only_src": "sha-S", "new_src": "sha-N"}  # noqa: C402


@pytest.mark.parametrize(
    ("strategy", "conflicts", "applied"),
    [(None, ["both_diff"], {}), ("source-wins", [], {"both_diff": "sha-S"}), ("dest-wins", [], {})],
)
def test_three_way_merge_conflict_and_strategies(strategy, conflicts, applied) -> None:
    src = tree(shared="0", only_src="0", only_dst="0", both_same="0", both_diff="S")
    dst = tree(shared="0", only_src="0", only_dst="0", both_same="0", both_diff="D")
    outcome = three_way_merge(changes_between(BASE, src), changes_between(BASE, dst), strategy)
    assert outcome.conflicts == conflicts
    assert {p: e.address for p, e in outcome.to_apply if e} == applied


def test_delete_on_one_side_and_change_on_the_other_conflicts() -> None:
    src = [(p, e) for p, e in BASE if p != "both_diff"]
    dst = tree(shared="0", only_src="0", only_dst="0", both_same="0", both_diff="D")
    assert three_way_merge(changes_between(BASE, src), changes_between(BASE, dst)).conflicts == ["both_diff"]


def test_same_deletion_on_both_sides_is_not_a_conflict() -> None:
    gone = [(p, e) for p, e in BASE if p != "both_diff"]
    outcome = three_way_merge(changes_between(BASE, gone), changes_between(BASE, gone))
    assert outcome.conflicts == [] and outcome.to_apply == []


def test_fast_forward_case_applies_every_source_change() -> None:
    src = tree(shared="1", new="2")
    outcome = three_way_merge(changes_between(BASE, src), [])
    assert len(outcome.to_apply) == len(list(diff_sorted(BASE, src)))
