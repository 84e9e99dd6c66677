"""The synthetic corpus used by the benchmark: deterministic, and its labels hold."""

from __future__ import annotations

from tasks.ingest.records import main_text
from tasks.prepare.quality import QualityBounds, failed_filter
from tasks.prepare.shingles import shingle_hashes
from tests.synthetic import SyntheticCorpus


def test_same_seed_same_corpus_and_truth() -> None:
    a, b = SyntheticCorpus(seed=4), SyntheticCorpus(seed=4)
    assert list(a.records(500)) == list(b.records(500))
    assert a.truth == b.truth
    assert list(SyntheticCorpus(seed=5).records(50)) != list(SyntheticCorpus(seed=4).records(50))


def test_labels_describe_the_records() -> None:
    corpus = SyntheticCorpus(seed=1)
    records = {r.id: r for r in corpus.records(3_000)}
    truth = corpus.truth
    assert len(truth.near_duplicates) > 100 and len(truth.pii) > 200 and truth.outliers and truth.invalid
    for copy, original in truth.near_duplicates.items():
        a = set(shingle_hashes(main_text(records[copy]), 5).tolist())
        b = set(shingle_hashes(main_text(records[original]), 5).tolist())
        assert len(a & b) / len(a | b) >= 0.9
        assert main_text(records[copy]) != main_text(records[original])
    for copy, original in truth.exact_duplicates.items():
        assert main_text(records[copy]) == main_text(records[original])
    for rid, expected in truth.outliers.items():
        assert failed_filter(main_text(records[rid]), QualityBounds()) == expected
    for rid, planted in truth.pii.items():
        assert all(secret in main_text(records[rid]) for _, secret in planted)
