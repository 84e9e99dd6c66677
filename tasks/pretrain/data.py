"""The pretraining corpus: documents → held-out split → one token stream → fixed-length blocks.

Each document is `title`, a blank line and `text`, between bos and eos; documents follow each other
in one stream that is cut into blocks of `seq_length` tokens (the last, partial block is dropped), so
no token is padding. A document goes to the held-out side by a hash of its id, whatever its position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tasks.pretrain.model import PretrainDataError

if TYPE_CHECKING:
    import torch


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


def split_heldout(docs: Sequence[tuple[str, str]], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts). A small corpus still holds out one document (the lowest hash);
    a corpus of fewer than two documents is refused."""
    if len(docs) < 2:
        raise PretrainDataError(
            f"{len(docs)} document(s) with text: the embedded default needs at least two (one "
            "to train on, one to measure on); add documents to the sources"
        )
    keep_out = {min(docs, key=lambda d: _hash(d[0], seed))[0]}
    train, heldout = [], []
    for doc_id, text in docs:
        (heldout if is_heldout(doc_id, fraction, seed) or doc_id in keep_out else train).append(text)
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
