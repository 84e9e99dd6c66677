"""Near dedupe on the cases that made a person say "that is (not) a copy", on text nobody here generated:
the standard library's documentation (``tests/data/near_duplicates/base.jsonl``) and hand-written
operator flips and Chinese and Japanese records (``handwritten.jsonl``)."""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

import pytest

from tasks.ingest.records import Record, main_text
from tasks.prepare.dedupe import Deduplicator
from tasks.prepare.pipeline import PrepConfig
from tasks.prepare.quality import QualityBounds, failed_filter
from tasks.prepare.split import Decontaminator

DATA = Path(__file__).resolve().parents[2] / "data" / "near_duplicates"


@cache
def _rows() -> dict[str, dict[str, str]]:
    rows = [json.loads(line) for name in ("base.jsonl", "handwritten.jsonl") for line in open(DATA / name)]
    return {r["id"]: r for r in rows}


def record(rid: str, **changes: str) -> Record:
    row = {**_rows()[rid], **changes}
    if row["kind"] == "instruction":
        fields = {"id": row["id"], "prompt": row["prompt"], "response": row["response"]}
    else:
        fields = {"id": row["id"], "title": row.get("title", ""), "text": row["text"]}
    return Record(row["kind"], {**fields, "source": "s", "meta": "{}"}, "u", row["id"])


def dropped(first: Record, second: Record) -> bool:
    """Whether the default deduplicator drops the second record as a copy of the first."""
    result = Deduplicator("near").filter([first, second])
    return [r.id for r in result.kept] == [first.id]


def _edit_words(text: str, share: float, replace: bool) -> str:
    """Replace (or add a word after) ``share`` of the text's words, spread evenly over its prose
    words (a copy keeps its code names)."""
    prose = list(re.finditer(r"(?<![\w.`(=*])[A-Za-z]{3,}(?![\w(`]|\.\w)", text))
    count = math.ceil(share * len(text.split()))
    assert len(prose) >= count, "too little prose to edit"
    step = len(prose) / count
    chosen = [prose[int(i * step + step / 2)] for i in range(count)]
    out, last = [], 0
    for m in chosen:
        word = m.group()
        out += [text[last : m.start()], ("quietly" if word != "quietly" else "softly") if replace else word + " indeed"]
        last = m.end()
    return "".join(out) + text[last:]


# ---------------------------------------------------------------- what must not be dropped


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("doc:json.dump", "doc:json.dumps"),
        ("doc:json.load", "doc:json.loads"),
        ("doc:urllib.parse.parse_qs", "doc:urllib.parse.parse_qsl"),
        ("doc:urllib.parse.quote", "doc:urllib.parse.quote_plus"),
        ("doc:heapq.nlargest", "doc:heapq.nsmallest"),
    ],
)
def test_sibling_apis_documented_in_the_same_words_are_not_copies(a: str, b: str) -> None:
    assert not dropped(record(a), record(b))
    assert not dropped(record(b), record(a))


def test_pairs_derived_from_sibling_apis_are_not_copies() -> None:
    rows = _rows()
    for a, b in (("json.dump", "json.dumps"), ("urllib.parse.parse_qs", "urllib.parse.parse_qsl")):
        pairs_a = sorted(r for r in rows if r.startswith(f"qa:{a}:"))
        pairs_b = {r.split(":")[2]: r for r in rows if r.startswith(f"qa:{b}:")}
        same_rule = [(p, pairs_b[p.split(":")[2]]) for p in pairs_a if p.split(":")[2] in pairs_b]
        assert same_rule, f"no pairs derived by the same rule from {a} and {b}"
        for first, second in same_rule:
            assert not dropped(record(first), record(second)), (first, second)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("op-lt", "op-gt"),
        ("op-eq", "op-ne"),
        ("op-le", "op-ge"),
        ("op-plus", "op-minus"),
        ("op-lshift", "op-rshift"),
        ("op-sorted-asc", "op-sorted-desc"),
        ("op-empty-eq", "op-empty-ne"),
        ("op-count-up", "op-count-down"),
    ],
)
def test_a_flipped_operator_is_another_record(a: str, b: str) -> None:
    assert not dropped(record(a), record(b))


@pytest.mark.parametrize("rid", ["zh-4", "zh-5", "zh-9", "ja-3", "ja-4", "zh-1"])
def test_chinese_and_japanese_records_are_long_enough(rid: str) -> None:
    assert failed_filter(main_text(record(rid)), QualityBounds()) is None


# ---------------------------------------------------------------- what must be found


@pytest.mark.parametrize(
    ("rid", "changes"),
    [
        ("zh-1", {"response": record("zh-1").fields["response"].replace("添加", "增加")}),
        ("zh-9", {"response": record("zh-9").fields["response"].replace("提速", "加快")}),
        ("ja-2", {"response": record("ja-2").fields["response"].replace("資源", "リソース")}),
    ],
)
def test_a_near_copy_of_a_chinese_or_japanese_record_is_found(rid: str, changes: dict[str, str]) -> None:
    assert dropped(record(rid), record(rid, id=f"{rid}-copy", **changes))


COPIED = ["doc:json.dumps", "doc:urllib.parse.parse_qsl", "doc:heapq.nlargest", "doc:shutil.copy2"]


@pytest.mark.parametrize("rid", COPIED)
def test_ten_percent_of_the_words_substituted_is_a_copy(rid: str) -> None:
    text = record(rid).fields["text"]
    edited = _edit_words(text, 0.1, replace=True)
    changed = sum(a != b for a, b in zip(text.split(), edited.split(), strict=True))
    assert changed >= 0.1 * len(text.split())  # the edit is as large as it says
    assert dropped(record(rid), record(rid, id="copy", text=edited))


@pytest.mark.parametrize("rid", COPIED)
def test_ten_percent_more_words_is_a_copy(rid: str) -> None:
    assert dropped(record(rid), record(rid, id="copy", text=_edit_words(record(rid).fields["text"], 0.1, False)))


@pytest.mark.parametrize("rid", COPIED)
def test_reordered_sentences_are_a_copy(rid: str) -> None:
    head, body = record(rid).fields["text"].split("\n", 1)
    sentences = re.split(r"(?<=[.!?])\s+", body.strip())
    assert len(sentences) >= 2
    reordered = head + "\n" + " ".join(sentences[1:] + sentences[:1])
    assert dropped(record(rid), record(rid, id="copy", text=reordered))


@pytest.mark.parametrize("rid", COPIED)
def test_a_copy_cut_by_ten_percent_is_a_copy(rid: str) -> None:
    words = record(rid).fields["text"].split(" ")
    cut = " ".join(words[: round(len(words) * 0.9)])
    assert dropped(record(rid), record(rid, id="copy", text=cut))


def test_the_pipeline_defaults_are_the_ones_tested_here() -> None:
    config = PrepConfig()
    index = Deduplicator("near")._near["document"]
    assert (config.near_duplicate_threshold, config.shingle_tokens, config.lsh_bands) == (
        index.threshold,
        index.hasher.shingle_tokens,
        index.bands,
    )
    decontaminator = Decontaminator()
    assert (config.contamination_threshold, config.contamination_ngram_words) == (
        decontaminator.threshold,
        decontaminator.ngram_words,
    )
