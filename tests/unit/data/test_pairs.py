"""Question/answer pairs derived from documents: on the built-in corpus's shapes and on documents written
for this test (tests/data/docs_corpus/), not taken from the built-in corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from tasks.ingest import SourceConfig, read_batches
from tasks.prepare import PrepConfig, prepare_dataset
from tasks.prepare.pairs import derive_pairs, first_sentences, split_sections

DOCS = Path(__file__).resolve().parents[2] / "data" / "docs_corpus"


def test_an_api_reference_gives_its_signature_and_summary() -> None:
    pairs = derive_pairs(
        "json.dumps",
        "json.dumps(obj, *, skipkeys=False)\n\nSerialize ``obj`` to a JSON formatted "
        "``str``. More details follow here.\n\nIf ``skipkeys`` is true ...",
    )
    assert [(p.rule, p.prompt, p.response) for p in pairs] == [
        ("api_signature", "What is the signature of `json.dumps`?", "`json.dumps(obj, *, skipkeys=False)`"),
        ("api_summary", "What does `json.dumps` do?", "Serialize ``obj`` to a JSON formatted ``str``."),
    ]


def test_a_class_line_gives_no_signature_question() -> None:
    pairs = derive_pairs("pkg.Fuse", "class pkg.Fuse(Base)\n\nA fuse that burns for a while.")
    assert [p.rule for p in pairs] == ["api_summary"]


def test_markdown_sections_and_definitions_give_checkable_answers() -> None:
    text = (DOCS / "release-process.md").read_text()
    pairs = {p.prompt: p for p in derive_pairs("Release process", text, max_pairs=10)}
    assert pairs["What is Release process?"].response == (
        "A release is a tagged build that has passed every check on the integration branch."
    )
    assert pairs["What does Release process say about Signing artifacts?"].response.startswith(
        "Every artifact is signed with the release key held in the vault."
    )
    captain = pairs["What is Release captain?"]
    assert captain.rule == "definition" and "final say" in captain.response
    for pair in pairs.values():  # every answer is text of the document, never its code block
        assert "sign --key" not in pair.response
        assert pair.response.rstrip(" .").split(" ")[0].strip("`*:") in text


def test_sections_and_sentences_split_where_a_reader_would() -> None:
    sections = split_sections("Intro line.\n\nTitle\n=====\n\nBody one. Body two.\n\n## Next\nMore.")
    assert [(s.heading, s.body.strip()) for s in sections] == [
        ("", "Intro line."),
        ("Title", "Body one. Body two."),
        ("Next", "More."),
    ]
    assert (
        first_sentences("Use e.g. `json.dumps` here. Then more text follows on.", 40) == "Use e.g. `json.dumps` here."
    )
    long = "word " * 100
    assert first_sentences(long, 60).endswith("...") and len(first_sentences(long, 60)) <= 64


def test_the_same_document_always_gives_the_same_pairs() -> None:
    text = (DOCS / "caching-layer.md").read_text()
    assert derive_pairs("Caching layer", text) == derive_pairs("Caching layer", text)


def test_a_folder_of_documents_alone_becomes_an_instruction_dataset(tmp_path: Path) -> None:
    report = prepare_dataset(read_batches([str(DOCS)], SourceConfig()), PrepConfig(eval_fraction=0.3), tmp_path)
    rows = [
        r
        for split in ("train", "eval")
        for f in sorted((tmp_path / "prepared" / split).glob("*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]
    corpus = [r for f in sorted((tmp_path / "corpus").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    documents = len(list(DOCS.iterdir()))
    assert report.records_in == {"instruction": 0, "document": documents} and len(corpus) == documents
    assert len(rows) >= 8 and report.steps[4].name == "derive_pairs" and report.steps[4].records_out >= 8
    by_doc = {}
    for row in rows:
        meta = json.loads(row["meta"])
        assert meta["derived_from"] in {d["id"] for d in corpus}
        by_doc.setdefault(meta["derived_from"], set()).add(row["prompt"])
    # a document's questions all land in one split: the eval questions come from documents not trained on
    train_docs = {
        json.loads(r["meta"])["derived_from"]
        for f in (tmp_path / "prepared" / "train").glob("*.parquet")
        for r in pq.read_table(f).to_pylist()
    }
    eval_docs = {
        json.loads(r["meta"])["derived_from"]
        for f in (tmp_path / "prepared" / "eval").glob("*.parquet")
        for r in pq.read_table(f).to_pylist()
    }
    assert train_docs and eval_docs and not train_docs & eval_docs
    assert len(by_doc) == documents  # the .txt file too: "What is `oncall`?", "What is Incident severity?"
    assert "What is Incident severity?" in set().union(*by_doc.values())
