"""The hash split (stable under added records) and eval decontamination."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.ingest.records import Record
from tasks.prepare.split import Decontaminator, assign_splits, split_of

_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=24)


def _pair(rid: str, prompt: str, response: str = "An answer.") -> Record:
    return Record(
        "instruction",
        {"id": rid, "prompt": prompt, "response": response, "source": "s", "meta": "{}"},
        "u",
        f"row {rid}",
    )


@settings(max_examples=200, deadline=None)
@given(
    old=st.lists(_IDS, max_size=60, unique=True),
    new=st.lists(_IDS, max_size=60, unique=True),
    fraction=st.floats(0.0, 0.5),
    seed=st.text(min_size=1, max_size=8),
)
def test_adding_records_never_moves_old_ones(old: list[str], new: list[str], fraction: float, seed: str) -> None:
    records = [_pair(i, "q") for i in old]
    before = assign_splits(records, fraction, seed)
    added = records + [_pair(i, "q") for i in new if i not in set(old)]
    after = assign_splits(added, fraction, seed)
    moved = {r.id for r in before[0]} & {r.id for r in after[1]} | {r.id for r in before[1]} & {r.id for r in after[0]}
    assert moved == set()


@settings(max_examples=200, deadline=None)
@given(rid=_IDS, low=st.floats(0.0, 0.5), high=st.floats(0.0, 0.5))
def test_a_larger_eval_fraction_only_moves_train_to_eval(rid: str, low: float, high: float) -> None:
    low, high = sorted((low, high))
    if split_of(rid, low) == "eval":
        assert split_of(rid, high) == "eval"


def test_split_fraction_order_and_seed() -> None:
    ids = [f"rec-{i}" for i in range(20_000)]
    share = sum(split_of(i, 0.1) == "eval" for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert split_of("x", 0.0) == "train" and split_of("x", 1.0) == "eval"
    reshuffled = sum(split_of(i, 0.1, "a") != split_of(i, 0.1, "b") for i in ids)
    assert reshuffled > 1_000  # another seed is another split
    train, evaluation = assign_splits([_pair(i, "q") for i in ids[:200]], 0.3)
    assert [r.id for r in train + evaluation] != ids[:200]
    assert [r.id for r in train] == [i for i in ids[:200] if split_of(i, 0.3) == "train"]


QUESTION = (
    "Given the quarterly sales figures for the northern and southern regions listed below, which region grew "
    "faster over the year and by how many percentage points did its growth exceed the other region"
)
ANSWER = (
    "The northern region grew faster: its sales rose by eleven percent against eight percent in the south, so "
    "its growth exceeded the southern region's by three percentage points over the year."
)


@pytest.mark.parametrize(
    ("prompt", "response", "reason"),
    [
        (QUESTION, "A different answer altogether.", "prompt is the same as train record t1"),
        ("  " + QUESTION.upper() + " ", "Another answer.", "prompt is the same as train record t1"),
        (QUESTION.replace("listed below", "shown below"), ANSWER, "near-duplicates train record t1 ("),
        ("Which region grew faster?", ANSWER[:60] + " Nothing else in common here at all, really.", None),
        ("What does `json.loads` do?", "Parse a JSON document.", None),  # another function, no leak
    ],
)
def test_decontamination(prompt: str, response: str, reason: str | None) -> None:
    decontaminator = Decontaminator(threshold=0.7)
    eval_record = _pair("e1", prompt, response)
    decontaminator.add(
        [_pair("t1", QUESTION, ANSWER), _pair("t2", "What does `json.dumps` do?", "Serialize.")], ["train", "train"]
    )
    decontaminator.add([eval_record], ["eval"])
    reasons = decontaminator.contaminated()
    if reason is None:
        assert reasons == {}
    else:
        assert list(reasons) == ["e1"] and reasons["e1"].startswith(reason)


def test_decontamination_sees_train_records_that_come_after_the_eval_record() -> None:
    decontaminator = Decontaminator(threshold=0.7)
    decontaminator.add([_pair("e1", "Rephrased: " + QUESTION, ANSWER)], ["eval"])
    decontaminator.add([_pair("t9", QUESTION, ANSWER)], ["train"])
    assert decontaminator.contaminated()["e1"].startswith("near-duplicates train record t9")
