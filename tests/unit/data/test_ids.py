"""Record ids: a record without one gets an id from its content, so the split never moves it because its
file moved, was renamed or grew; identical records still get distinct ids; explicit ids are kept."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tasks.ingest import RAW_RECORDS, read_raw_batches, write_raw_records
from tasks.ingest.records import Record
from tasks.ingest.sources import SourceConfig, read_batches, read_sources
from tasks.prepare.pipeline import PrepConfig, prepare_dataset

from .conftest import split_items, write_jsonl


def content_id(kind: str, fields: dict) -> str:
    # Imported here, not at the top, so that the stability tests also run (and fail) on code without it.
    from tasks.ingest.records import content_id as make

    return make(kind, fields)


_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "bel", "dor", "fen", "gar", "hol"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def _pairs(n: int, seed: int = 5) -> list[dict[str, str]]:
    """``n`` distinct pairs of made-up words: no two are near duplicates, none holds personal data."""
    rng = random.Random(seed)
    return [
        {
            "prompt": f"How does {' '.join(_word(rng) for _ in range(7))} work?",
            "response": f"It {' '.join(_word(rng) for _ in range(14))}.",
        }
        for _ in range(n)
    ]


def _splits(out: Path) -> dict[str, str]:
    """prompt -> split of every instruction pair the run wrote."""
    found: dict[str, str] = {}
    for split in ("train", "eval"):
        for path in sorted((out / "prepared" / split).glob("*.parquet")):
            for prompt in pq.read_table(path, columns=["prompt"]).column("prompt").to_pylist():
                found[prompt] = split
    return found


def _prepare(sources: list[Path], out: Path) -> dict[str, str]:
    # Exact dedupe, not the default near: which split a record lands in does not depend on it, and
    # it takes a third of the time (about 3 s instead of 9 s for 5,000 records on 2 cores).
    report = prepare_dataset(read_batches(sources, SourceConfig()), PrepConfig(dedupe="exact"), out)
    assert report.decision.proceed, report.decision.reason
    return _splits(out)


@pytest.fixture(scope="module")
def five_thousand(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]], dict[str, str]]:
    """5,000 pairs without ids in one JSONL file, and the split each got."""
    rows = _pairs(5_001)
    folder = tmp_path_factory.mktemp("before") / "data"
    folder.mkdir()
    path = write_jsonl(folder / "pairs.jsonl", rows[1:])
    before = _prepare([path], tmp_path_factory.mktemp("out-before"))
    assert len(before) == 5_000
    assert 150 < sum(s == "eval" for s in before.values()) < 350  # eval_fraction=0.05: the test can fail
    return rows, before


def _moved(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [prompt for prompt, split in before.items() if after.get(prompt) != split]


def test_prepending_a_line_moves_no_record_between_splits(
    five_thousand: tuple[list[dict[str, str]], dict[str, str]], tmp_path: Path
) -> None:
    rows, before = five_thousand
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)  # the same file, with one record in front
    after = _prepare([path], tmp_path / "out")
    assert len(after) == 5_001 and rows[0]["prompt"] in after
    assert _moved(before, after) == []


def test_moving_the_file_to_another_folder_moves_no_record_between_splits(
    five_thousand: tuple[list[dict[str, str]], dict[str, str]], tmp_path: Path
) -> None:
    rows, before = five_thousand
    elsewhere = tmp_path / "archive" / "2026"
    elsewhere.mkdir(parents=True)
    write_jsonl(elsewhere / "renamed.jsonl", rows[1:])
    after = _prepare([tmp_path / "archive"], tmp_path / "out")  # read as a folder source, too
    assert len(after) == 5_000
    assert _moved(before, after) == []


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(_word(rng) for _ in range(words)).capitalize() + "."


def _document(rng: random.Random) -> str:
    """A Markdown page of made-up words with a heading, a section and sentences pairs can come from."""
    title, section = _word(rng).capitalize(), _word(rng).capitalize()
    body = " ".join(_sentence(rng, 12) for _ in range(3))
    more = " ".join(_sentence(rng, 12) for _ in range(3))
    return f"# {title}\n\n{body}\n\n## {section}\n\n{more}\n"


def test_folder_documents_and_their_pairs_keep_ids_and_split_when_the_folder_moves(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "guide").mkdir(parents=True)
    rng = random.Random(3)
    for i in range(30):
        (docs / ("guide" if i % 2 else "") / f"page-{i:02d}.md").write_text(_document(rng), encoding="utf-8")
    config = PrepConfig(eval_fraction=0.5)  # pairs split by document: half the documents go to eval

    def run(source: Path, out: Path) -> tuple[list[str], dict[str, str]]:
        report = prepare_dataset(read_batches([source]), config, out)
        assert report.decision.proceed, report.decision.reason
        corpus = sorted(i for p in (out / "corpus").glob("*.parquet") for i in pq.read_table(p)["id"].to_pylist())
        pairs = {
            pid: split
            for split in ("train", "eval")
            for p in (out / "prepared" / split).glob("*.parquet")
            for pid in pq.read_table(p)["id"].to_pylist()
        }
        return corpus, pairs

    corpus_before, pairs_before = run(docs, tmp_path / "out-1")
    moved = tmp_path / "elsewhere" / "handbook"
    moved.parent.mkdir()
    shutil.move(docs, moved)
    corpus_after, pairs_after = run(moved, tmp_path / "out-2")
    assert len(corpus_before) == 30 and len(pairs_before) >= 30
    assert set(pairs_before.values()) == {"train", "eval"}
    assert corpus_after == corpus_before
    assert pairs_after == pairs_before


def test_identical_records_get_distinct_ids_and_exact_dedupe_removes_the_copies(tmp_path: Path) -> None:
    pair = _pairs(1)[0]
    other = _pairs(2, seed=9)[1]
    a = write_jsonl(tmp_path / "a.jsonl", [pair, other, pair])
    b = write_jsonl(tmp_path / "b.jsonl", [pair])
    records, issues = split_items(list(read_sources([a, b])))
    assert issues == []
    ids = [r.id for r in records]
    assert len(set(ids)) == 4
    assert ids[0] == content_id("instruction", pair)  # the first copy gets the content's own id

    report = prepare_dataset(read_batches([a, b]), PrepConfig(dedupe="exact"), tmp_path / "out")
    assert report.decision.invalid == 0  # no "duplicate id" in quarantine
    assert report.duplicates["exact"]["instruction"] == 2
    assert len(_splits(tmp_path / "out")) == 2

    kept = prepare_dataset(read_batches([a, b]), PrepConfig(dedupe="none"), tmp_path / "out-none")
    assert kept.decision.invalid == 0 and kept.split.train + kept.split.eval + kept.split.contaminated == 4


def test_explicit_ids_are_kept_and_null_means_none(tmp_path: Path) -> None:
    pair = _pairs(1)[0]
    path = write_jsonl(tmp_path / "a.jsonl", [{**pair, "id": "mine-1"}, {**pair, "id": None}, {"text": "A body."}])
    records, _ = split_items(list(read_sources([path])))
    assert [r.id for r in records] == [
        "mine-1",
        content_id("instruction", pair),
        content_id("document", {"text": "A body."}),
    ]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"prompt": "Line one\nline two", "response": "x"}, {"prompt": "Line one\r\nline two", "response": "x"}),
        ({"prompt": "  indented   text ", "response": "x"}, {"prompt": "indented text", "response": "x"}),
        ({"prompt": "caf\u00e9", "response": "x"}, {"prompt": "cafe\u0301", "response": "x"}),  # NFC
        ({"prompt": "p", "response": "r", "source": "a.jsonl"}, {"prompt": "p", "response": "r", "source": "b"}),
    ],
)
def test_content_id_ignores_line_endings_spacing_composition_and_provenance(one: dict, other: dict) -> None:
    assert content_id("instruction", one) == content_id("instruction", other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"prompt": "p", "response": "r"}, {"prompt": "p", "response": "R"}),
        ({"prompt": "a b", "response": "c"}, {"prompt": "a", "response": "b c"}),
    ],
)
def test_content_id_tells_different_content_apart(one: dict, other: dict) -> None:
    assert content_id("instruction", one) != content_id("instruction", other)


def test_raw_commit_pins_the_content_ids_and_old_raw_files_get_the_same_ones(tmp_path: Path) -> None:
    pair = _pairs(1)[0]
    source = write_jsonl(tmp_path / "a.jsonl", [pair, pair, {"text": "A body of text."}])
    work = tmp_path / "work"
    work.mkdir()
    write_raw_records([str(source)], SourceConfig(), work / RAW_RECORDS)
    written = [r for batch in read_raw_batches(work / RAW_RECORDS, 10) for r in batch if isinstance(r, Record)]
    expected = [r.id for r in split_items(list(read_sources([source])))[0]]
    assert [r.fields["id"] for r in written] == expected and len(set(expected)) == 3

    old = work / "old.jsonl.gz"  # a raw file from before ids were pinned: records without "id"
    with gzip.open(old, "wt", encoding="utf-8") as f:
        for r in written:
            fields = {k: v for k, v in r.fields.items() if k != "id"}
            f.write(json.dumps({"item": "record", "kind": r.kind, "fields": fields, "uri": "x", "location": "y"}))
            f.write("\n")
    assert [r.id for batch in read_raw_batches(old, 2) for r in batch] == expected


def test_validation_gives_a_record_without_id_the_same_id_wherever_it_is() -> None:
    from tasks.prepare.validate import validate_batch

    pair = _pairs(1)[0]
    valid, bad = validate_batch([Record("instruction", dict(pair), "a.jsonl", "line 1")])
    moved, _ = validate_batch([Record("instruction", dict(pair), "old/b.jsonl", "line 4,000")])
    assert bad == [] and valid[0].id == moved[0].id == content_id("instruction", pair)
