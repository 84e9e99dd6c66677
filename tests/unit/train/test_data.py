from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.train.data import (
    IGNORE,
    Example,
    collate,
    encode_pairs,
    encode_prompt,
    instruction_pairs,
    mask_example,
    pack_examples,
)
from tasks.train.errors import TrainingDataError

X = IGNORE  # shorter tables


@pytest.mark.parametrize(
    ("prompt", "response", "max_len", "input_ids", "labels"),
    [
        # fits: the prompt is masked, the response (ending in eos=2) is learned
        ([1, 10, 11], [20, 21, 2], 16, [1, 10, 11, 20, 21, 2], [X, X, X, 20, 21, 2]),
        # exactly fits
        ([1, 10], [20, 2], 4, [1, 10, 20, 2], [X, X, 20, 2]),
        # too long: the end of the response goes
        ([1, 10, 11], [20, 21, 22, 2], 5, [1, 10, 11, 20, 21], [X, X, X, 20, 21]),
        # one response token left
        ([1, 10, 11], [20, 2], 4, [1, 10, 11, 20], [X, X, X, 20]),
    ],
)
def test_only_response_tokens_carry_labels(prompt, response, max_len, input_ids, labels) -> None:
    example = mask_example(prompt, response, max_len)
    assert example == Example(tuple(input_ids), tuple(labels))


@pytest.mark.parametrize(
    ("prompt", "response", "max_len"), [([1, 10, 11], [20, 2], 3), ([1, 10, 11], [20, 2], 2), ([1, 10], [], 8)]
)
def test_an_example_with_no_response_left_is_dropped(prompt, response, max_len) -> None:
    assert mask_example(prompt, response, max_len) is None


def _ex(ids, labels) -> Example:
    return Example(tuple(ids), tuple(labels))


A = _ex([1, 10, 20], [X, X, 20])
B = _ex([1, 21], [X, 21])
C = _ex([1, 11, 12, 22], [X, X, X, 22])
PAD = 0


@pytest.mark.parametrize(
    ("examples", "block", "expected"),
    [
        # A and B share a block, C does not fit after them and opens the next; tails are padded.
        (
            [A, B, C],
            6,
            [
                ([1, 10, 20, 1, 21, PAD], [X, X, 20, X, 21, X], [0, 1, 2, 0, 1, 0], 1),
                ([1, 11, 12, 22, PAD, PAD], [X, X, X, 22, X, X], [0, 1, 2, 3, 0, 1], 2),
            ],
        ),
        # exact fill: no padding, positions restart per example
        ([A, A], 6, [([1, 10, 20, 1, 10, 20], [X, X, 20, X, X, 20], [0, 1, 2, 0, 1, 2], 0)]),
        # one example per block when two never fit
        (
            [C, C],
            5,
            [
                ([1, 11, 12, 22, PAD], [X, X, X, 22, X], [0, 1, 2, 3, 0], 1),
                ([1, 11, 12, 22, PAD], [X, X, X, 22, X], [0, 1, 2, 3, 0], 1),
            ],
        ),
        ([], 6, []),
    ],
)
def test_packing_keeps_whole_examples_and_their_label_masks(examples, block, expected) -> None:
    blocks = pack_examples(examples, block, PAD)
    assert [(list(b.input_ids), list(b.labels), list(b.position_ids), b.pad) for b in blocks] == expected


def test_packing_refuses_an_example_longer_than_a_block() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        pack_examples([C], 3, PAD)


def test_collate_right_pads_without_an_attention_mask() -> None:
    batch = collate([A, B], PAD)
    assert batch["input_ids"].tolist() == [[1, 10, 20], [1, 21, PAD]]
    assert batch["labels"].tolist() == [[X, X, 20], [X, 21, X]]
    assert set(batch) == {"input_ids", "labels"}
    assert collate([B], PAD, pad_to_multiple_of=8)["input_ids"].shape == (1, 8)


def test_collate_of_packed_blocks_brings_position_ids() -> None:
    block = pack_examples([A, B], 6, PAD)[0]
    batch = collate([block], PAD, pad_to_multiple_of=8)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 2]]
    assert batch["labels"].tolist() == [[X, X, 20, X, 21, X, X, X]]


def test_instruction_pairs_from_a_dataframe_or_dicts() -> None:
    rows = [{"prompt": "p1", "response": "r1", "extra": 1}, {"prompt": "p2", "response": "r2"}]
    assert instruction_pairs(rows) == [("p1", "r1"), ("p2", "r2")]
    assert instruction_pairs(pd.DataFrame(rows)) == [("p1", "r1"), ("p2", "r2")]


@pytest.mark.parametrize(
    "rows",
    [
        [{"prompt": "p"}],
        pd.DataFrame({"question": ["q"], "response": ["r"]}),
        [{"prompt": "p", "response": None}],
    ],
)
def test_unusable_rows_raise_a_typed_error(rows) -> None:
    with pytest.raises(TrainingDataError):
        instruction_pairs(rows)


def test_encoding_with_the_real_tokenizer_labels_response_and_eos(tokenizer) -> None:
    template = "Q: {prompt}\nA:"
    data = encode_pairs([("Add 1 and 2.", " 1 plus 2 is 3.")], tokenizer, template, 64)
    (example,) = data.items
    prompt_ids = encode_prompt(tokenizer, template, "Add 1 and 2.")
    response_ids = tokenizer(" 1 plus 2 is 3.", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert prompt_ids[0] == tokenizer.bos_token_id
    assert list(example.input_ids) == prompt_ids + response_ids
    assert list(example.labels) == [X] * len(prompt_ids) + response_ids
    assert (data.rows, data.truncated, data.dropped) == (1, 0, 0)
    assert data.label_tokens == len(response_ids)
    assert tokenizer.decode(example.input_ids, skip_special_tokens=True) == "Q: Add 1 and 2.\nA: 1 plus 2 is 3."


def test_encoding_counts_truncated_and_dropped_rows(tokenizer) -> None:
    pairs = [("short", "fine"), ("x " * 40, "gone"), ("short", "word " * 40)]
    data = encode_pairs(pairs, tokenizer, "{prompt}\nA:", 20)
    assert (data.rows, len(data.items), data.dropped, data.truncated) == (3, 2, 1, 1)
    assert all(len(item) <= 20 for item in data.items)


def test_packed_examples_do_not_attend_to_each_other(base_dir: Path, tokenizer) -> None:
    """Each packed example gets the logits (and loss) it gets alone."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_dir), attn_implementation="sdpa").eval()
    pairs = [("Add 3 and 4.", "3 plus 4 is 7."), ("Repeat: cat red", "cat red"), ("What color is the dog?", "blue")]
    examples = encode_pairs(pairs, tokenizer, "{prompt}\nA:", 64).items
    (block,) = pack_examples(examples, 64, tokenizer.pad_token_id)

    def run(batch: dict) -> tuple[torch.Tensor, float]:
        with torch.no_grad():
            out = model(**batch, use_cache=False, num_items_in_batch=1)
        return out.logits[0], float(out.loss)

    alone = [run(collate([e], tokenizer.pad_token_id)) for e in examples]
    packed_logits, packed_loss = run(collate([block], tokenizer.pad_token_id))
    unmasked = collate([block], tokenizer.pad_token_id)
    del unmasked["position_ids"]  # one long sequence: later examples see the earlier ones
    unmasked_logits, _ = run(unmasked)
    start = 0
    for example, (logits, _) in zip(examples, alone, strict=True):
        span = slice(start, start + len(example))
        torch.testing.assert_close(packed_logits[span], logits, rtol=0, atol=1e-5)
        if start:
            assert (unmasked_logits[span] - logits).abs().max() > 1e-3
        start += len(example)
    assert packed_loss == pytest.approx(sum(loss for _, loss in alone), rel=1e-5)


def test_padding_without_an_attention_mask_changes_no_loss(base_dir: Path, tokenizer) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_dir), attn_implementation="sdpa").eval()
    examples = encode_pairs([("Add 3 and 4.", "3 plus 4 is 7."), ("hi", "yo")], tokenizer, "{prompt}\nA:", 64).items
    batch = collate(examples, tokenizer.pad_token_id)
    mask = (
        torch.arange(batch["input_ids"].shape[1])[None, :] < torch.tensor([len(e) for e in examples])[:, None]
    ).long()
    with torch.no_grad():
        without = model(**batch, use_cache=False).loss
        with_mask = model(**batch, attention_mask=mask, use_cache=False).loss
    assert float(without) == pytest.approx(float(with_mask), rel=1e-5)
