"""The whole preparation pipeline: outputs, report, policy, reruns, and the default corpus."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from tasks.ingest.records import DOCUMENT_SCHEMA, INSTRUCTION_SCHEMA, Record, SourceIssue
from tasks.ingest.sources import PYTHON_DOCS_URI, SourceConfig, read_batches
from tasks.prepare.errors import OutputError
from tasks.prepare.pipeline import PrepConfig, prepare_dataset
from tests.synthetic import SyntheticCorpus, plant_pii

LONG = (
    "Prepared datasets keep their provenance, drop what is broken, and never leak the questions of the eval "
    "split into training. "
)
DOC = (
    LONG + "The corpus part holds documents for retrieval, chunked later by the indexer, and each document keeps "
    "its title and its source so that answers can cite where they come from."
)


def _pair(rid: str, prompt: str, response: str, **extra: object) -> Record:
    return Record("instruction", {"id": rid, "prompt": prompt, "response": response, **extra}, "mem", f"row {rid}")


def _doc(rid: str, text: str) -> Record:
    return Record("document", {"id": rid, "title": f"Doc {rid}", "text": text}, "mem", f"row {rid}")


_WORDS = [
    "river",
    "stone",
    "lantern",
    "copper",
    "meadow",
    "signal",
    "harbor",
    "winter",
    "basket",
    "orbit",
    "velvet",
    "quarry",
    "pepper",
    "ladder",
    "canyon",
    "marble",
    "thunder",
    "pillow",
    "saddle",
    "violin",
    "glacier",
    "pencil",
    "tunnel",
    "walnut",
    "falcon",
    "mirror",
    "parcel",
]


def _distinct(i: int) -> str:
    """Thirty words in an order of their own: no two answers share a run of words."""
    return " ".join(random.Random(i).sample(_WORDS, len(_WORDS)) + [str(i)]) + "."


def _rows(folder: Path) -> list[dict[str, str]]:
    return [row for path in sorted(folder.glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


@pytest.fixture
def mixed_batches() -> list[list[Record | SourceIssue]]:
    # distinct answers: forty copies of one sentence are near duplicates, and their eval ones leaked
    pairs = [
        _pair(f"p{i}", f"Question number {i} about topic {i * 7}?", f"Answer {i}: {_distinct(i)}") for i in range(40)
    ]
    return [
        [*pairs[:20], _doc("d1", DOC), SourceIssue("bad.jsonl", "line 3", "malformed JSON: oops")],
        [
            *pairs[20:],
            _pair("p0", "Same id again?", LONG),  # duplicate id
            _pair("x1", "Mail me at jane@example.com please?", LONG + " Card 4111 1111 1111 1111."),
            _pair("x2", "Short?", "ok"),  # quality: too short
            _pair("x3", "Bad type?", 42),  # invalid
            _pair("x4", pairs[3].fields["prompt"], pairs[3].fields["response"]),  # exact duplicate of p3
            _doc("d2", DOC + " Extra words."),  # near duplicate of d1
            _doc("d3", "\u200b\x00 "),
        ],  # empty after normalization
    ]


def test_outputs_report_and_quarantine(tmp_path: Path, mixed_batches: list[list[Record | SourceIssue]]) -> None:
    config = PrepConfig(eval_fraction=0.2, min_chars=10, max_invalid_fraction=0.1, derive_pairs=False)
    report = prepare_dataset(mixed_batches, config, tmp_path)

    train, evaluation, corpus = (
        _rows(tmp_path / "prepared" / "train"),
        _rows(tmp_path / "prepared" / "eval"),
        _rows(tmp_path / "corpus"),
    )
    assert pq.read_schema(tmp_path / "prepared" / "train" / "part-00000.parquet").names == INSTRUCTION_SCHEMA.names
    assert pq.read_schema(tmp_path / "corpus" / "part-00000.parquet").names == DOCUMENT_SCHEMA.names
    ids = [r["id"] for r in train + evaluation]
    assert sorted(ids) == sorted([f"p{i}" for i in range(40)] + ["x1"])
    assert len(set(ids)) == len(ids)
    assert [r["id"] for r in corpus] == ["d1"]
    x1 = next(r for r in train + evaluation if r["id"] == "x1")
    assert x1["prompt"] == "Mail me at <EMAIL> please?" and x1["response"].endswith("Card <CARD>.")
    assert all(r["source"] == "mem" and r["meta"] == "{}" for r in train)

    assert report.records_in == {"instruction": 45, "document": 3}
    assert report.source_issues == 1
    assert report.redactions == {"CARD": 1, "EMAIL": 1}
    assert report.duplicates == {"exact": {"instruction": 1, "document": 0}, "near": {"instruction": 0, "document": 1}}
    assert report.quality == {"too_short": 1}
    assert (report.split.train, report.split.eval) == (len(train), len(evaluation)) and len(evaluation) > 0
    assert report.quarantined == 4
    assert report.quarantine_by_stage == {"source": 1, "validate": 1, "normalize": 1, "unique_ids": 1}
    assert report.decision.proceed and report.decision.invalid == 4 and report.decision.total == 49
    assert report.step("validate").dropped == {"invalid": 1}
    assert report.step("dedupe").dropped == {"exact": 1, "near": 1}
    assert {o.path: o.rows for o in report.outputs} == {
        "prepared/train/part-00000.parquet": len(train),
        "prepared/eval/part-00000.parquet": len(evaluation),
        "corpus/part-00000.parquet": 1,
    }

    lines = [json.loads(line) for line in (tmp_path / "quarantine" / "quarantine.jsonl").read_text().splitlines()]
    assert [(q["stage"], q["uri"], q["location"], q["reason"]) for q in lines] == [
        ("source", "bad.jsonl", "line 3", "malformed JSON: oops"),
        ("validate", "mem", "row x3", "field 'response' must be a string, got int"),
        ("normalize", "mem", "row d3", "field 'text' is empty after normalization (only spaces or control characters)"),
        ("unique_ids", "mem", "row p0", "duplicate id 'p0': an earlier record has the same id"),
    ]
    assert lines[3]["record"]["prompt"] == "Same id again?"

    markdown = (tmp_path / "report.md").read_text()
    for needle in (
        "**Decision: publish.**",
        "## Steps",
        "| redact |",
        "| CARD | 1 |",
        "## Duplicates",
        "| near | 0 | 1 |",
        "## Quarantine",
        "bad.jsonl: line 3",
        "malformed JSON: oops",
        "## Split",
    ):
        assert needle in markdown, needle
    assert json.loads((tmp_path / "report.json").read_text())["config_hash"] == config.config_hash()
    assert not (tmp_path / ".partial").exists()


def test_policy_failure_publishes_nothing(tmp_path: Path) -> None:
    batch = [
        _pair("ok", "A fine question here?", LONG),
        _pair("bad", "Broken?", None),
        SourceIssue("f.jsonl", "line 9", "malformed JSON: x"),
    ]
    report = prepare_dataset([batch], PrepConfig(max_invalid_fraction=0.5), tmp_path)
    assert not report.decision.proceed
    assert report.decision.reason == "2 of 3 input items are invalid (66.67%), over max_invalid_fraction=50.00%"
    assert report.outputs == []
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "corpus").exists()
    assert len((tmp_path / "quarantine" / "quarantine.jsonl").read_text().splitlines()) == 2
    assert "**Decision: do not publish.**" in (tmp_path / "report.md").read_text()


def test_rerun_replaces_earlier_outputs_and_is_deterministic(tmp_path: Path) -> None:
    def digest() -> dict[str, str]:
        return {
            p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tmp_path.rglob("*.parquet"))
        }

    corpus = SyntheticCorpus(seed=3)
    batches = list(corpus.batches(600, 100))
    prepare_dataset(batches, PrepConfig(rows_per_file=1_000), tmp_path)
    first = digest()
    (tmp_path / "prepared" / "train" / "stale.parquet").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("not ours")
    prepare_dataset(batches, PrepConfig(rows_per_file=1_000), tmp_path)
    assert digest() == first
    assert (tmp_path / "notes.txt").read_text() == "not ours"


def test_files_roll_over_and_empty_outputs_still_have_a_schema(tmp_path: Path) -> None:
    pairs = [_pair(f"p{i}", f"Distinct question {i} {i * 31}?", f"{LONG} number {i} {i * 17}") for i in range(2_500)]
    report = prepare_dataset(
        [pairs[:1_200], pairs[1_200:]], PrepConfig(rows_per_file=1_000, eval_fraction=0.0), tmp_path
    )
    assert [(o.path, o.rows) for o in report.outputs] == [
        ("prepared/train/part-00000.parquet", 1_000),
        ("prepared/train/part-00001.parquet", 1_000),
        ("prepared/train/part-00002.parquet", 500),
        ("prepared/eval/part-00000.parquet", 0),
        ("corpus/part-00000.parquet", 0),
    ]
    assert pq.read_schema(tmp_path / "corpus" / "part-00000.parquet").names == DOCUMENT_SCHEMA.names


def test_workers_give_the_same_output(tmp_path: Path) -> None:
    batches = list(SyntheticCorpus(seed=5).batches(800, 200))
    single = prepare_dataset(batches, PrepConfig(), tmp_path / "one")
    double = prepare_dataset(batches, PrepConfig(workers=2), tmp_path / "two")
    for rel in ("prepared/train", "prepared/eval", "corpus"):
        assert _rows(tmp_path / "one" / rel) == _rows(tmp_path / "two" / rel)
    assert single.config_hash == double.config_hash
    assert single.quarantined == double.quarantined and single.redactions == double.redactions


@pytest.mark.parametrize(("dedupe", "exact", "near"), [("none", 0, 0), ("exact", 1, 0), ("near", 1, 1)])
def test_dedupe_modes_in_the_pipeline(tmp_path: Path, dedupe: str, exact: int, near: int) -> None:
    batch = [
        _doc("d1", DOC),
        _doc("d2", DOC),
        _doc("d3", DOC + " Extra words."),
        _pair("p1", "A question about datasets?", LONG),
    ]
    report = prepare_dataset([batch], PrepConfig(dedupe=dedupe, eval_fraction=0.5), tmp_path)
    assert report.duplicates["exact"]["document"] == exact and report.duplicates["near"]["document"] == near
    assert report.rows("corpus") == 3 - exact - near


def test_config_validation_and_hash() -> None:
    assert PrepConfig().config_hash() == PrepConfig().config_hash()
    assert PrepConfig(redact=["IP", "EMAIL"]).config_hash() == PrepConfig(redact=["EMAIL", "IP"]).config_hash()
    assert PrepConfig(workers=4).config_hash() == PrepConfig().config_hash()
    assert PrepConfig(eval_fraction=0.1).config_hash() != PrepConfig().config_hash()
    assert len(PrepConfig().config_hash()) == 16
    with pytest.raises(ValidationError, match="min_chars"):
        PrepConfig(min_chars=500, max_chars=100)
    with pytest.raises(ValidationError, match="less than or equal to 0.5"):
        PrepConfig(eval_fraction=0.9)
    with pytest.raises(ValidationError):
        PrepConfig(redact=["PASSPORT"])


def test_default_corpus_slice_has_both_kinds_and_no_planted_secret(tmp_path: Path) -> None:
    rng = random.Random(11)
    planted: list[str] = []

    def with_secrets(batches):
        for batch in batches:
            for item in batch:
                if isinstance(item, Record) and rng.random() < 0.3:
                    key = "response" if item.kind == "instruction" else "text"
                    item.fields[key], secrets = plant_pii(item.fields[key], rng)
                    planted.extend(secret for _, secret in secrets)
            yield batch

    batches = read_batches([PYTHON_DOCS_URI], SourceConfig(limit=500, batch_size=100))
    report = prepare_dataset(with_secrets(batches), PrepConfig(), tmp_path)
    assert report.decision.proceed
    assert report.rows("train") > 0 and report.rows("eval") > 0 and report.rows("corpus") > 0
    assert len(planted) > 300
    written = "\n".join(path.read_bytes().decode("utf-8", "replace") for path in tmp_path.rglob("*.parquet"))
    written += (tmp_path / "quarantine" / "quarantine.jsonl").read_text()
    rows = _rows(tmp_path / "prepared" / "train") + _rows(tmp_path / "prepared" / "eval") + _rows(tmp_path / "corpus")
    text = "\n".join(v for row in rows for v in row.values())
    assert [s for s in planted if s in text or s in written] == []
    assert set(report.redactions) == {
        "PRIVATE_KEY",
        "TOKEN",
        "API_KEY",
        "EMAIL",
        "IBAN",
        "CARD",
        "NATIONAL_ID",
        "PHONE",
        "IP",
        "CREDENTIAL",
    }


def test_output_path_that_is_a_file_raises(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("a file")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        prepare_dataset([], PrepConfig(), target)


def test_empty_input_is_not_published(tmp_path: Path) -> None:
    report = prepare_dataset([], PrepConfig(), tmp_path)
    assert not report.decision.proceed and report.decision.reason == "no valid records in the input"
    assert report.records_in == {"instruction": 0, "document": 0} and report.outputs == []
