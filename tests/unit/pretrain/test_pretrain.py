"""Pretraining from scratch on a tiny corpus: it learns, it resumes exactly, it refuses another run's
directory; and a model of the embedded default's shape with random weights fails the default gate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.evaluate import EvalConfig, GatePolicy, decide, evaluate_model
from tasks.pretrain import (
    PretrainConfig,
    PretrainDataError,
    PretrainResumeError,
    build_embedded_model,
    document_texts,
    pretrain,
    split_heldout,
    token_blocks,
)

DOCS = Path(__file__).resolve().parents[2] / "data" / "docs_corpus"
TEXTS = [p.read_text() for p in sorted(DOCS.iterdir())]
TINY = PretrainConfig(
    vocab_size=400,
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=2,
    num_key_value_heads=2,
    seq_length=32,
    batch_size=8,
    max_steps=60,
    warmup_steps=5,
    eval_every_steps=20,
    save_every_steps=10,
    log_every_steps=10,
)


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_pretraining_lowers_held_out_perplexity_and_logs_progress(tmp_path: Path) -> None:
    seen: list[dict] = []
    result = pretrain(TINY, TEXTS[:-2], TEXTS[-2:], tmp_path / "run", corpus_digest="d", on_metrics=seen.append)
    assert result.completed and result.steps == 60 and (result.model_dir / "config.json").is_file()
    assert result.heldout_perplexity < result.initial_heldout_perplexity / 3  # ~vocabulary size at random
    assert [p.step for p in result.curve] == [0, 20, 40, 60]
    assert result.tokens_per_s > 0 and result.flops_per_token > 6 * result.parameters
    assert any("loss" in m and "eta_s" in m for m in seen) and any("heldout_perplexity" in m for m in seen)


def test_a_crashed_run_resumes_to_the_same_model(tmp_path: Path) -> None:
    full = pretrain(TINY, TEXTS[:-2], TEXTS[-2:], tmp_path / "full", corpus_digest="d")
    cut = pretrain(TINY, TEXTS[:-2], TEXTS[-2:], tmp_path / "cut", corpus_digest="d", stop_after_steps=25)
    assert not cut.completed and cut.model_dir is None
    resumed = pretrain(TINY, TEXTS[:-2], TEXTS[-2:], tmp_path / "cut", corpus_digest="d")
    assert resumed.resumed_from_step == 20  # the last checkpoint before the crash
    assert resumed.heldout_perplexity == pytest.approx(full.heldout_perplexity, rel=1e-5)


def test_another_corpus_or_recipe_is_refused(tmp_path: Path) -> None:
    pretrain(TINY, TEXTS[:-2], TEXTS[-2:], tmp_path / "run", corpus_digest="d", stop_after_steps=10)
    with pytest.raises(PretrainResumeError, match="corpus_digest"):
        pretrain(TINY, TEXTS[:-2], TEXTS[-2:], tmp_path / "run", corpus_digest="other")
    with pytest.raises(PretrainResumeError, match="recipe_hash"):
        pretrain(TINY.model_copy(update={"seed": 1}), TEXTS[:-2], TEXTS[-2:], tmp_path / "run", corpus_digest="d")
    # logging and saving cadence is not the recipe
    assert TINY.model_copy(update={"log_every_steps": 3}).recipe_hash() == TINY.recipe_hash()


def test_held_out_documents_are_chosen_by_id_and_a_small_corpus_keeps_one() -> None:
    docs = document_texts([{"id": f"d{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(5)])
    assert docs[0] == ("d0", "T0\n\ntext 0")
    train, heldout = split_heldout(docs, 0.05, 0)
    assert len(heldout) == 1 and len(train) == 4
    assert split_heldout(list(reversed(docs)), 0.05, 0)[1] == heldout  # by id, not by position
    with pytest.raises(PretrainDataError, match="at least two"):
        split_heldout(docs[:1], 0.05, 0)


def test_token_blocks_need_enough_text(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(build_embedded_model(TEXTS, tmp_path / "m")))
    blocks = token_blocks(tokenizer, TEXTS, 64)
    assert blocks.shape[1] == 64 and blocks[0, 0].item() == tokenizer.bos_token_id
    with pytest.raises(PretrainDataError, match="seq_length"):
        token_blocks(tokenizer, ["tiny"], 64)


def test_a_model_of_the_embedded_default_shape_with_random_weights_fails_the_default_gate(tmp_path: Path) -> None:
    """Exactly the acceptance case: the default recipe's shape, random weights, scored and gated as a candidate."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tasks.train import FinetuneConfig

    shape = PretrainConfig()
    model_dir = build_embedded_model(TEXTS * 20, tmp_path / "random", shape)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    rows = pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(12)],
            "prompt": [f"What is the storage tier number {i}?" for i in range(12)],
            "response": ["The hot tier stores data on local solid-state disks."] * 12,
            "context": ["[1] Storage tiers: Harbor keeps every dataset in one of three tiers."] * 12,
        }
    )
    config = EvalConfig(max_examples=12, max_new_tokens=12, canaries=0)
    result = evaluate_model(model, tokenizer, rows, FinetuneConfig().prompt_template, config)
    assert result.metrics["perplexity"] > 500  # about the vocabulary size
    decision = decide(result, None, GatePolicy(), baseline=result)
    failed = {c.name for c in decision.checks if not c.passed}
    assert not decision.promote
    assert {"threshold rouge_l", "threshold perplexity", "rouge_l vs base model (paired bootstrap)"} <= failed
