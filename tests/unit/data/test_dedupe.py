"""Exact and near-duplicate removal."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tasks.ingest.records import Record
from tasks.prepare.dedupe import Deduplicator, MinHasher, exact_key
from tasks.prepare.shingles import token_hashes, word_hashes

_RNG = random.Random(7)
_VOCAB = [f"w{i}" for i in range(3_000)]


def _text(n: int, rng: random.Random = _RNG) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(n))


def _doc(rid: str, text: str) -> Record:
    return Record("document", {"id": rid, "title": "", "text": text, "source": "s", "meta": "{}"}, "u", f"row {rid}")


def _pair(rid: str, prompt: str, response: str) -> Record:
    return Record(
        "instruction",
        {"id": rid, "prompt": prompt, "response": response, "source": "s", "meta": "{}"},
        "u",
        f"row {rid}",
    )


BASE = _text(200)
WORDS = BASE.split()


def _edited(changes: int) -> str:
    words = list(WORDS)
    for i in range(changes):
        words[5 + i * 16] = f"changed{i}"
    return " ".join(words)


@pytest.mark.parametrize(
    ("second", "dropped_as"),
    [
        (BASE, "exact"),
        (BASE.upper().replace(" ", "  \n"), "exact"),  # case and whitespace do not count
        (BASE + ".", "near"),  # one more token
        (_edited(1), "near"),  # 1 word in 200: Jaccard of token bigrams about 0.98
        (_edited(2), "near"),
        # 12 words in 200 (6%): about 0.78, a copy. Word 5-shingles put it at 0.55, below the old
        # threshold (0.8), which found copies of about 2% edits only.
        (_edited(12), "near"),
        (_edited(12).replace("changed", "w"), "near"),
        (_text(200), None),
    ],
)
def test_duplicates_of_an_earlier_record(second: str, dropped_as: str | None) -> None:
    result = Deduplicator("near").filter([_doc("a", BASE), _doc("b", second)])
    assert [r.id for r in result.kept] == (["a"] if dropped_as else ["a", "b"])
    assert (result.exact, result.near) == ((1, 0) if dropped_as == "exact" else (0, 1) if dropped_as else (0, 0))
    if dropped_as:
        assert result.dropped[0][1].startswith(f"{dropped_as} duplicate of a")


def test_first_occurrence_wins_across_batches_and_kinds_are_separate() -> None:
    deduplicator = Deduplicator("near")
    first = deduplicator.filter([_doc("d1", BASE), _pair("p1", "Question?", BASE)])
    second = deduplicator.filter([_doc("d2", _edited(1)), _pair("p2", "Question?", BASE), _doc("d3", _text(50))])
    assert [r.id for r in first.kept] == ["d1", "p1"]
    assert [r.id for r in second.kept] == ["d3"]
    assert [(r.id, why.split(" (")[0]) for r, why in second.dropped] == [
        ("d2", "near duplicate of d1"),
        ("p2", "exact duplicate of p1"),
    ]
    assert second.kept_rows == [2]


@pytest.mark.parametrize(("mode", "kept"), [("none", ["a", "b", "c"]), ("exact", ["a", "c"]), ("near", ["a"])])
def test_modes(mode: str, kept: list[str]) -> None:
    records = [_doc("a", BASE), _doc("b", BASE), _doc("c", _edited(1))]
    assert [r.id for r in Deduplicator(mode).filter(records).kept] == kept  # type: ignore[arg-type]


def test_batch_signatures_equal_datasketch_signatures() -> None:
    hasher = MinHasher(num_perm=64, shingle_tokens=3)
    texts = [BASE, "", "one", "Two words", _text(40_000), *(_text(n) for n in (1, 3, 4, 10, 300))]
    batch = hasher.signatures(texts)
    one_by_one = np.array([hasher.signature(t) for t in texts])
    assert batch.dtype == np.uint32 and batch.shape == (len(texts), 64)
    assert np.array_equal(batch, one_by_one)
    assert np.array_equal(hasher.signatures(texts, [token_hashes(t) for t in texts]), batch)


def test_signature_similarity_tracks_jaccard() -> None:
    hasher = MinHasher()
    a, b = hasher.signatures([BASE, _edited(2)])
    shingles_a, shingles_b = set(hasher.shingles(BASE).tolist()), set(hasher.shingles(_edited(2)).tolist())
    true = len(shingles_a & shingles_b) / len(shingles_a | shingles_b)
    assert abs(np.mean(a == b) - true) < 0.1


def test_word_hashes_are_deterministic_and_split_on_punctuation() -> None:
    assert word_hashes("Hello, hello! héllo").tolist()[0] == word_hashes("HELLO")[0]
    assert len(word_hashes("a-b c_d ünï.x")) == 5  # a, b, c_d, ünï, x
    assert word_hashes("...").tolist() == []
    assert MinHasher().shingles("").tolist() == [0] and len(MinHasher().shingles("a b")) == 1


def test_tokens_keep_punctuation_and_cut_cjk_into_characters() -> None:
    assert len(token_hashes("a < b")) == 3 and token_hashes("a < b")[1] != token_hashes("a > b")[1]
    assert len(token_hashes("x == y")) == 3 and token_hashes("x == y")[1] != token_hashes("x != y")[1]
    assert len(token_hashes("json.dumps(obj)")) == 6  # json . dumps ( obj )
    assert word_hashes("json.dumps(obj)").tolist() == token_hashes("json dumps obj").tolist()
    assert len(word_hashes("列表是可变的序列。")) == 8 and len(token_hashes("列表是可变的序列。")) == 9
    assert len(word_hashes("リストは変更できます")) == 10
    assert word_hashes("ＡＢＣ１２３！").tolist() == word_hashes("abc123").tolist()  # full-width forms fold
    assert len(word_hashes("naïve — café «x»")) == 3  # non-ASCII punctuation separates words


def test_exact_key_ignores_case_and_whitespace_only() -> None:
    assert exact_key("A  b\nC") == exact_key("a b c") != exact_key("a b c.")
