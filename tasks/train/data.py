"""Instruction pairs to token ids: prompt template, response-only labels, truncation, packing, batches.

An example is `bos + template(prompt, context)` followed by `response + eos`; `context` is the
retrieved passages (a `context` column beside `prompt` and `response`), "(none)" when there are none.
Only the response tokens (and eos) carry labels; prompt tokens and padding get IGNORE (-100), which the loss skips.

Packing places whole examples one after another in blocks of `max_seq_length` tokens (an example
never straddles two blocks) and pads the rest of each block. Position ids restart at 0 with every
example; given position ids and no attention mask, transformers builds a block-diagonal causal mask
from them (the packed-sequence path of its SDPA masking), so packed examples never attend to each
other. The pad run at the end of a block is its own segment and has no labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.train.config import NO_CONTEXT
from tasks.train.errors import TrainingDataError

if TYPE_CHECKING:
    import pandas as pd
    import torch

IGNORE = -100
REQUIRED_COLUMNS = ("prompt", "response")


@dataclass(frozen=True)
class Example:
    """One training item: an example, or a packed block of several (then `position_ids` is set)."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    position_ids: tuple[int, ...] | None = None
    pad: int = 0  # trailing pad tokens (a packed block's unused tail)

    @property
    def real_tokens(self) -> int:
        return len(self.input_ids) - self.pad

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class EncodedData:
    """The items of one split and what encoding did to the rows."""

    items: list[Example]
    rows: int
    truncated: int
    dropped: int
    tokens: int  # real (non-pad) tokens over all items
    label_tokens: int


Pair = tuple[str, str] | tuple[str, str, str]  # (prompt, response) or (prompt, response, context)


def render_prompt(template: str, prompt: str, context: str = "") -> str:
    """The text the model sees before its answer; `{context}` gets the passages, or "(none)"."""
    return template.format(prompt=prompt, context=context or NO_CONTEXT)


def instruction_pairs(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[Pair]:
    """(prompt, response) pairs, or (prompt, response, context) where rows have a `context` column."""
    records: Iterable[Mapping[str, Any]]
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
        if missing:
            raise TrainingDataError(f"rows lack the column(s) {missing}; found {list(rows.columns)}")
        columns = [*REQUIRED_COLUMNS, *(["context"] if "context" in rows.columns else [])]
        records = rows[columns].to_dict("records")
    else:
        records = rows
    pairs = []
    for i, row in enumerate(records):
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            raise TrainingDataError(f"row {i} lacks {missing}; every row needs 'prompt' and 'response'")
        prompt, response = row["prompt"], row["response"]
        if not isinstance(prompt, str) or not isinstance(response, str):
            raise TrainingDataError(
                f"row {i}: 'prompt' and 'response' must be strings, got {type(prompt).__name__}, "
                f"{type(response).__name__}"
            )
        context = row.get("context")
        pairs.append((prompt, response, str(context)) if context is not None else (prompt, response))
    return pairs


def _context(pair: Pair) -> str:
    return pair[2] if len(pair) > 2 else ""  # type: ignore[misc]


def corpus_texts(pairs: Sequence[Pair], template: str) -> list[str]:
    """The full texts the model will see (prompt with its context, then the answer)."""
    return [render_prompt(template, p[0], _context(p)) + p[1] for p in pairs]


def encode_prompt(tokenizer: Any, template: str, prompt: str, context: str = "") -> list[int]:
    """Token ids of `bos + template(prompt, context)`; generation continues from here."""
    ids = tokenizer(render_prompt(template, prompt, context), add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    return ([bos] if bos is not None else []) + list(ids)


def mask_example(prompt_ids: Sequence[int], response_ids: Sequence[int], max_len: int) -> Example | None:
    """Concatenate and label the response only; cut the end past `max_len`.

    None when truncation would leave no response token to learn from.
    """
    if len(prompt_ids) >= max_len or not response_ids:
        return None
    input_ids = (list(prompt_ids) + list(response_ids))[:max_len]
    labels = ([IGNORE] * len(prompt_ids) + list(response_ids))[:max_len]
    return Example(tuple(input_ids), tuple(labels))


def encode_pairs(
    pairs: Sequence[Pair],
    tokenizer: Any,
    template: str,
    max_seq_length: int,
    *,
    packing: bool = False,
) -> EncodedData:
    """Tokenize, label and (when `packing`) pack the pairs."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise TrainingDataError("the tokenizer has no eos token; the model could never learn to stop")
    examples: list[Example] = []
    truncated = dropped = 0
    prompts = [render_prompt(template, p[0], _context(p)) for p in pairs]
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"] if pairs else []
    response_ids = tokenizer([p[1] for p in pairs], add_special_tokens=False)["input_ids"] if pairs else []
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    for p_ids, r_ids in zip(prompt_ids, response_ids, strict=True):
        full_prompt, full_response = bos + list(p_ids), list(r_ids) + [eos]
        example = mask_example(full_prompt, full_response, max_seq_length)
        if example is None:
            dropped += 1
            continue
        truncated += len(full_prompt) + len(full_response) > max_seq_length
        examples.append(example)
    tokens = sum(e.real_tokens for e in examples)
    label_tokens = sum(sum(1 for t in e.labels if t != IGNORE) for e in examples)
    items = pack_examples(examples, max_seq_length, tokenizer.pad_token_id) if packing else examples
    return EncodedData(items, len(pairs), truncated, dropped, tokens, label_tokens)


def pack_examples(examples: Sequence[Example], block_size: int, pad_id: int) -> list[Example]:
    """Fill blocks of `block_size` with whole examples in order (next fit), padding each block's tail."""
    blocks: list[Example] = []
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []

    def close() -> None:
        pad = block_size - len(ids)
        blocks.append(
            Example(
                tuple(ids + [pad_id] * pad),
                tuple(labels + [IGNORE] * pad),
                tuple(positions + list(range(pad))),
                pad,
            )
        )

    for example in examples:
        if len(example) > block_size:
            raise ValueError(f"example of {len(example)} tokens does not fit a block of {block_size}")
        if len(ids) + len(example) > block_size:
            close()
            ids, labels, positions = [], [], []
        ids += example.input_ids
        labels += example.labels
        positions += range(len(example))
    if ids:
        close()
    return blocks


def collate(items: Sequence[Example], pad_id: int, *, pad_to_multiple_of: int = 1) -> dict[str, torch.Tensor]:
    """Stack items into a batch, right-padding to the longest.

    No attention mask: with right padding a causal model's real tokens never see the padding, and
    padded positions carry no labels, so the mask would change nothing but would keep SDPA off its
    fused causal kernels. Packed items bring `position_ids`, from which the block-diagonal mask is made.
    """
    import torch

    width = max(len(item) for item in items)
    width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    n = len(items)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    labels = torch.full((n, width), IGNORE, dtype=torch.long)
    for row, item in enumerate(items):
        input_ids[row, : len(item)] = torch.tensor(item.input_ids)
        labels[row, : len(item)] = torch.tensor(item.labels)
    batch = {"input_ids": input_ids, "labels": labels}
    if items[0].position_ids is not None:
        positions = torch.zeros((n, width), dtype=torch.long)
        for row, item in enumerate(items):
            positions[row, : len(item)] = torch.tensor(item.position_ids)
            # Any extra right padding continues the last segment: it has no labels and comes last.
            if len(item) < width:
                positions[row, len(item) :] = torch.arange(width - len(item)) + item.position_ids[-1] + 1
        batch["position_ids"] = positions
    return batch
