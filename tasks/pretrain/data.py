"""The pretraining corpus: documents → held-out split → one token stream → fixed-length blocks.

Each document is `title`, a blank line and `text`, between bos and eos; documents follow each other
in one stream that is cut into blocks of `seq_length` tokens (the last, partial block is dropped), so
no token is padding. A document goes to the held-out side by a hash of its id, whatever its position.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from tasks.pretrain.model import PretrainDataError

if TYPE_CHECKING:
    import torch

IGNORE = -100  # a label the loss skips


def document_texts(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(id, text) of every document row with text: the title, a blank line, the body."""
    out = []
    for row in rows:
        text = str(row.get("text") or "").strip()
        if text:
            title = str(row.get("title") or "").strip()
            out.append((str(row["id"]), f"{title}\n\n{text}" if title else text))
    return out


def is_heldout(doc_id: str, fraction: float, seed: int) -> bool:
    return _hash(doc_id, seed) < fraction


def _hash(doc_id: str, seed: int) -> float:
    digest = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8, key=str(seed).encode())
    return int.from_bytes(digest.digest()) / float(1 << 64)


def heldout_ids(doc_ids: Sequence[str], fraction: float, seed: int) -> set[str]:
    """The ids of the held-out documents: those `is_heldout` picks, and always the lowest hash."""
    if not doc_ids:
        return set()
    return {d for d in doc_ids if is_heldout(d, fraction, seed)} | {min(doc_ids, key=lambda d: _hash(d, seed))}


def split_heldout(docs: Sequence[tuple[str, str]], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts). A small corpus still holds out one document (the lowest hash);
    a corpus of fewer than two documents is refused."""
    if len(docs) < 2:
        raise PretrainDataError(
            f"{len(docs)} document(s) with text: the embedded default needs at least two (one "
            "to train on, one to measure on); add documents to the sources"
        )
    out = heldout_ids([doc_id for doc_id, _ in docs], fraction, seed)
    train, heldout = [], []
    for doc_id, text in docs:
        (heldout if doc_id in out else train).append(text)
    if not train or not heldout:
        raise PretrainDataError(
            f"{len(docs)} documents give {len(train)} for training and {len(heldout)} held out "
            f"(heldout_fraction={fraction}); the embedded default needs both: add documents to the sources"
        )
    return train, heldout


def token_blocks(tokenizer: Any, texts: Sequence[str], seq_length: int) -> torch.Tensor:
    """The texts as one bos/eos-delimited token stream, cut into [n, seq_length] blocks."""
    import torch

    stream: list[int] = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream += [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
    blocks = len(stream) // seq_length
    if blocks == 0:
        raise PretrainDataError(
            f"the corpus gives {len(stream)} tokens, not one block of seq_length={seq_length}: "
            "lower seq_length or add documents"
        )
    return torch.tensor(stream[: blocks * seq_length], dtype=torch.long).view(blocks, seq_length)


# --- reading exercises -----------------------------------------------------------------------------
# A plain language model of a small corpus learns what the corpus says, not to read what is put in
# front of it: fine-tuned to answer from a retrieved passage, it recites instead of copying (measured:
# README, "What teaches the model to answer from its passage"). Reading exercises teach the copying
# itself, with no question/answer pairs: a window of a document, a few of its words as the cue, and the
# text that follows them in the window as the target, the only tokens that carry a loss.

EXERCISE_CUE_SHARE = 1 / 3  # the cue ends within this first share of the window's words: long targets
_MIN_SPAN_CHARS = 16


class Document(NamedTuple):
    id: str
    title: str
    text: str


class Exercise(NamedTuple):
    prompt: str  # the passage line and the cue
    target: str  # what follows the cue in the passage


def documents(rows: Iterable[Mapping[str, Any]]) -> list[Document]:
    """Every document row with text, its whitespace collapsed: the material of the reading exercises."""
    out = []
    for row in rows:
        text = " ".join(str(row.get("text") or "").split())
        if text:
            out.append(Document(str(row["id"]), " ".join(str(row.get("title") or "").split()), text))
    return out


def exercise_prompt(title: str, window: str, cue: str) -> str:
    passage = f"[1] {title}: {window}" if title else f"[1] {window}"
    return f'{passage}\n\nWhat follows "{cue}"?\n'


def reading_exercise(doc: Document, chars: int, rng: random.Random, cue_words: int = 3) -> Exercise | None:
    """One exercise of `doc`: a window of at most `chars` characters starting at a word, a cue of one to
    `cue_words` words in the first third of its words, the rest of the window after the cue as the
    target. None when the document is too short to hide anything in."""
    starts = [m.start() for m in re.finditer(r"\S+", doc.text)]
    begin = starts[rng.randrange(len(starts))] if len(doc.text) > chars else 0
    begin = min(begin, max(0, len(doc.text) - chars))
    begin = next((s for s in starts if s >= begin), 0)
    window = doc.text[begin : begin + chars]
    if begin + chars < len(doc.text) and " " in window:
        window = window[: window.rfind(" ")]
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", window)]
    n_cue = rng.randint(1, cue_words)
    candidates = [i for i in range(n_cue, len(words)) if len(window) - words[i][0] >= _MIN_SPAN_CHARS]
    if not candidates:
        return None
    at = rng.choice(candidates[: max(1, math.ceil(len(candidates) * EXERCISE_CUE_SHARE))])
    cue = window[words[at - n_cue][0] : words[at - 1][1]]
    target = window[words[at][0] :]
    return Exercise(exercise_prompt(doc.title, window, cue), target)


def reading_exercises(docs: Sequence[Document], count: int, chars: int, seed: int) -> list[Exercise]:
    """`count` exercises, documents drawn in a seeded order (each about equally often)."""
    rng = random.Random(f"reading-exercises:{seed}")
    usable = [d for d in docs if len(d.text) >= 2 * _MIN_SPAN_CHARS]
    out: list[Exercise] = []
    while usable and len(out) < count:
        for doc in rng.sample(usable, len(usable)):
            exercise = reading_exercise(doc, chars, rng)
            if exercise is not None:
                out.append(exercise)
                if len(out) == count:
                    break
    return out


def exercise_blocks(
    tokenizer: Any, exercises: Sequence[Exercise], seq_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, labels), each [n, seq_length]: whole exercises packed into blocks, the rest of a block
    padding; only the targets (and their eos) carry labels, everything else is -100. An exercise longer
    than a block is left out."""
    import torch

    prompts = tokenizer([e.prompt for e in exercises], add_special_tokens=False)["input_ids"]
    targets = tokenizer([e.target for e in exercises], add_special_tokens=False)["input_ids"]
    rows: list[tuple[list[int], list[int]]] = []
    ids: list[int] = []
    labels: list[int] = []
    for prompt, target in zip(prompts, targets, strict=True):
        piece = [tokenizer.bos_token_id, *prompt, *target, tokenizer.eos_token_id]
        if len(piece) > seq_length:
            continue
        if len(ids) + len(piece) > seq_length:
            rows.append(_padded(ids, labels, seq_length, tokenizer.pad_token_id))
            ids, labels = [], []
        ids += piece
        labels += [IGNORE] * (1 + len(prompt)) + [*target, tokenizer.eos_token_id]
    if ids:
        rows.append(_padded(ids, labels, seq_length, tokenizer.pad_token_id))
    if not rows:
        empty = torch.empty(0, seq_length, dtype=torch.long)
        return empty, empty.clone()
    return (
        torch.tensor([r[0] for r in rows], dtype=torch.long),
        torch.tensor([r[1] for r in rows], dtype=torch.long),
    )


def _padded(ids: list[int], labels: list[int], length: int, pad: int) -> tuple[list[int], list[int]]:
    fill = length - len(ids)
    return ids + [pad] * fill, labels + [IGNORE] * fill
