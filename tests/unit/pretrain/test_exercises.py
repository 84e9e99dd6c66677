"""Reading exercises: a passage, a cue inside it, the passage's own continuation as the only labelled tokens;
mixed into pretraining as a share of its blocks, deterministic, measured on held-out documents."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tasks.pretrain import PretrainConfig, PretrainDataError, build_tokenizer, pretrain
from tasks.pretrain.data import (
    IGNORE,
    Document,
    documents,
    exercise_blocks,
    reading_exercise,
    reading_exercises,
)
from tasks.pretrain.loop import _batch_indices

DOCS = Path(__file__).resolve().parents[2] / "data" / "docs_corpus"
CORPUS = [Document(p.stem, p.stem.replace("_", " "), " ".join(p.read_text().split())) for p in sorted(DOCS.iterdir())]
TINY = PretrainConfig(
    vocab_size=400,
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=2,
    num_key_value_heads=2,
    seq_length=192,
    exercise_passage_chars=80,
    batch_size=8,
    max_steps=30,
    warmup_steps=3,
    eval_every_steps=10,
    save_every_steps=10,
    log_every_steps=10,
    exercise_fraction=0.5,
)


def _cue(prompt: str) -> str:
    return prompt.rsplit('What follows "', 1)[1].rsplit('"?\n', 1)[0]


def test_the_target_is_what_follows_the_cue_in_the_passage_shown() -> None:
    rng = random.Random(0)
    for doc in CORPUS:
        exercise = reading_exercise(doc, 160, rng)
        assert exercise is not None
        passage = exercise.prompt.split("\n\n", 1)[0].removeprefix(f"[1] {doc.title}: ")
        assert len(passage) <= 160 and passage in doc.text
        cue = _cue(exercise.prompt)
        assert f"{cue} {exercise.target}" in passage  # the cue, then the target, inside the passage
        assert passage.endswith(exercise.target) and len(exercise.target) >= 16


def test_a_document_too_short_to_hide_anything_gives_no_exercise() -> None:
    assert reading_exercise(Document("d", "t", "two words"), 160, random.Random(0)) is None
    assert reading_exercises([Document("d", "t", "two words")], 5, 160, seed=0) == []


def test_exercises_are_a_function_of_the_seed() -> None:
    assert reading_exercises(CORPUS, 20, 160, seed=3) == reading_exercises(CORPUS, 20, 160, seed=3)
    assert reading_exercises(CORPUS, 20, 160, seed=3) != reading_exercises(CORPUS, 20, 160, seed=4)
    assert len(reading_exercises(CORPUS, 3 * len(CORPUS), 160, seed=0)) == 3 * len(CORPUS)  # documents reused


def test_documents_collapse_whitespace_and_skip_empty_rows() -> None:
    rows = [{"id": 1, "title": " A  title ", "text": "one\n\n two"}, {"id": 2, "title": "empty", "text": "  "}]
    assert documents(rows) == [Document("1", "A title", "one two")]


def test_only_the_target_and_its_eos_carry_labels() -> None:
    tokenizer = build_tokenizer([d.text for d in CORPUS], 400)
    exercises = reading_exercises(CORPUS, 12, 160, seed=0)
    ids, labels = exercise_blocks(tokenizer, exercises, 256)
    assert ids.shape == labels.shape and ids.shape[1] == 256
    decoded_targets = []
    for row_ids, row_labels in zip(ids.tolist(), labels.tolist(), strict=True):
        kept = [t for t, label in zip(row_ids, row_labels, strict=True) if label != IGNORE]
        assert all(label in (IGNORE, t) for t, label in zip(row_ids, row_labels, strict=True))
        decoded_targets.append(tokenizer.decode(kept))
        pad_run = [t for t in row_ids if t == tokenizer.pad_token_id]
        assert all(row_labels[i] == IGNORE for i, t in enumerate(row_ids) if t == tokenizer.pad_token_id) or not pad_run
    joined = "".join(decoded_targets)
    for exercise in exercises:  # every target is labelled, in order, followed by eos
        assert exercise.target + tokenizer.eos_token in joined
    assert joined.count(tokenizer.eos_token) == len(exercises)


def test_an_exercise_longer_than_a_block_is_left_out() -> None:
    tokenizer = build_tokenizer([d.text for d in CORPUS], 400)
    ids, labels = exercise_blocks(tokenizer, reading_exercises(CORPUS, 4, 160, seed=0), 16)
    assert ids.shape == (0, 16) and labels.shape == (0, 16)


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_pretraining_mixes_in_exercises_measures_copying_and_resumes_exactly(tmp_path: Path, one_thread) -> None:
    texts = [f"{d.title}\n\n{d.text}" for d in CORPUS]
    train, heldout = CORPUS[:-2], CORPUS[-2:]
    args = (TINY, texts[:-2], texts[-2:])
    kwargs = {"corpus_digest": "d", "exercise_docs": train, "heldout_exercise_docs": heldout}
    full = pretrain(*args, tmp_path / "full", **kwargs)
    assert 0.4 <= full.exercise_blocks / full.train_blocks <= 0.5
    assert full.initial_heldout_copy_accuracy is not None and full.heldout_copy_accuracy is not None
    assert all(p.heldout_copy_accuracy is not None for p in full.curve)
    cut = pretrain(*args, tmp_path / "cut", stop_after_steps=15, **kwargs)
    assert not cut.completed
    resumed = pretrain(*args, tmp_path / "cut", **kwargs)
    assert resumed.heldout_perplexity == pytest.approx(full.heldout_perplexity, rel=1e-5)
    assert resumed.heldout_copy_accuracy == pytest.approx(full.heldout_copy_accuracy)
    plain_config = TINY.model_copy(update={"exercise_fraction": 0.0})
    plain = pretrain(plain_config, texts[:-2], texts[-2:], tmp_path / "plain", **kwargs)
    assert plain.exercise_blocks == 0 and plain.heldout_copy_accuracy is None
    assert plain.train_blocks < full.train_blocks


def test_exercises_that_fit_no_block_are_an_error_not_a_silent_plain_run(tmp_path: Path, one_thread) -> None:
    texts = [f"{d.title}\n\n{d.text}" for d in CORPUS]
    config = TINY.model_copy(update={"seq_length": 32})
    with pytest.raises(PretrainDataError, match="raise seq_length"):
        pretrain(config, texts[:-2], texts[-2:], tmp_path / "run", corpus_digest="d", exercise_docs=CORPUS)


def test_batches_are_a_function_of_the_step_and_an_epoch_reads_every_block_once() -> None:
    config = TINY.model_copy(update={"max_steps": 200, "batch_size": 8})
    rows = [r for step in range(10) for r in _batch_indices(step, 80, config)]
    assert rows == [r for step in range(10) for r in _batch_indices(step, 80, config)]
    assert sorted(rows) == list(range(80))
