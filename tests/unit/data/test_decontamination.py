"""Eval decontamination by long n-gram overlap, on the derived pairs of the standard library's
documentation (``tests/data/near_duplicates/base.jsonl``)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from tasks.ingest.records import Record
from tasks.prepare.split import Decontaminator

DATA = Path(__file__).resolve().parents[2] / "data" / "near_duplicates"


@cache
def _rows() -> dict[str, dict[str, str]]:
    return {r["id"]: r for r in map(json.loads, open(DATA / "base.jsonl"))}


def pair(rid: str, prompt: str, response: str) -> Record:
    return Record(
        "instruction", {"id": rid, "prompt": prompt, "response": response, "source": "s", "meta": "{}"}, "u", rid
    )


def base_pair(rid: str) -> Record:
    row = _rows()[rid]
    return pair(rid, row["prompt"], row["response"])


def leaks(evaluation: Record, *train: Record) -> dict[str, str]:
    decontaminator = Decontaminator()
    decontaminator.add(list(train), ["train"] * len(train))
    decontaminator.add([evaluation], ["eval"])
    return decontaminator.contaminated()


EVAL = "qa:re.subn:api_summary:1"
OTHER_DOC = "doc:heapq.nlargest"


def _substitute(text: str, every: int) -> str:
    """Every ``every``-th word (the third, then every ``every``) replaced."""
    words = text.split(" ")
    return " ".join("changed" if i % every == 2 else w for i, w in enumerate(words))


def test_the_eval_pair_is_a_real_answer() -> None:
    record = base_pair(EVAL)
    assert "re.subn" in record.fields["prompt"] and len(record.fields["response"].split()) >= 20


# Every 20th word is 5%. Every 10th word (10%, evenly spread, the worst case for an n-gram test)
# leaves 4 of 10 6-grams, just under the share of 0.4; benchmarks/bench_dedupe.py catches 91% of
# randomly placed 10% edits, and dedupe drops such a twin before decontamination sees it.
@pytest.mark.parametrize("every", [20, 15])
def test_an_edited_twin_in_train_leaks(every: int) -> None:
    e = base_pair(EVAL)
    twin = pair("t1", _substitute(e.fields["prompt"], every), _substitute(e.fields["response"], every))
    assert twin.fields["response"] != e.fields["response"]
    assert list(leaks(e, twin)) == [EVAL]


def test_an_eval_item_inside_a_longer_train_record_leaks() -> None:
    e = base_pair(EVAL)
    context = _rows()[OTHER_DOC]["text"]
    longer = pair("t1", context[:400] + "\n\n" + e.fields["prompt"], e.fields["response"] + "\n\n" + context[400:900])
    assert leaks(e, longer)[EVAL].startswith("near-duplicates train record t1")


def test_a_train_record_inside_a_longer_eval_item_leaks() -> None:
    t = base_pair(EVAL)
    context = _rows()[OTHER_DOC]["text"]
    longer = pair("e1", context[:400] + "\n\n" + t.fields["prompt"], t.fields["response"] + "\n\n" + context[400:900])
    assert list(leaks(longer, pair("t1", t.fields["prompt"], t.fields["response"]))) == ["e1"]


def test_the_same_prompt_with_other_punctuation_leaks() -> None:
    e = base_pair(EVAL)
    prompt = re.sub(r"[`?]", "", e.fields["prompt"]).replace("re.subn", "re . subn") + " ?!"
    other = base_pair("qa:heapq.nlargest:api_summary:1")
    reason = leaks(e, pair("t1", prompt, other.fields["response"]))[EVAL]
    assert reason == "prompt is the same as train record t1"


def test_unrelated_pairs_and_sibling_apis_do_not_leak() -> None:
    train = [base_pair(r) for r in _rows() if r.startswith("qa:") and not r.startswith("qa:re.subn:")]
    assert len(train) > 300
    assert leaks(base_pair(EVAL), *train) == {}
