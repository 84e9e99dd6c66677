"""The passages a prompt carries: the same retrieval for training examples, evaluation and serving.

    format_passages(hits, passage_chars)  "[1] title: text" lines, each passage cut at `passage_chars`
    retrieve_contexts(...)                 the formatted passages for each question, from one collection

A fine-tuned model learns to answer from what `format_passages` writes, so everything that prompts
it (evaluation, `llmops ask`, the drift check's traffic) goes through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tasks.services import milvus as milvus_service

EmbedFn = Callable[[list[str]], np.ndarray]


def format_passages(hits: Sequence[Mapping[str, Any]], passage_chars: int) -> str:
    """Numbered passages, best first, each `[n] title: text` with the text cut at a word boundary."""
    lines = []
    for n, hit in enumerate(hits, 1):
        text = " ".join(str(hit.get("text", "")).split())
        if len(text) > passage_chars:
            cut = text.rfind(" ", 0, passage_chars)
            text = text[: cut if cut > passage_chars // 2 else passage_chars] + " ..."
        title = str(hit.get("title", "")).strip()
        lines.append(f"[{n}] {title}: {text}" if title else f"[{n}] {text}")
    return "\n".join(lines)


def retrieve(
    milvus: Any, collection: str, embed: EmbedFn, questions: Sequence[str], top_k: int, batch_size: int = 256
) -> list[list[dict[str, Any]]]:
    """The top-k hits of each question in `collection` (a name or an alias), in question order."""
    if top_k <= 0 or not questions:
        return [[] for _ in questions]
    hits: list[list[dict[str, Any]]] = []
    for start in range(0, len(questions), batch_size):
        chunk = list(questions[start : start + batch_size])
        hits += milvus_service.search(milvus, collection, embed(chunk), top_k)
    return hits


def retrieve_contexts(
    milvus: Any, collection: str, embed: EmbedFn, questions: Sequence[str], top_k: int, passage_chars: int
) -> list[str]:
    """The formatted passages of each question; empty strings when `top_k` is 0."""
    return [format_passages(hits, passage_chars) for hits in retrieve(milvus, collection, embed, questions, top_k)]
