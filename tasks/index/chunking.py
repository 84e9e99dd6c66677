"""Documents to chunks: overlapping character windows cut at whitespace, each knowing its document."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Chunk:
    id: int
    doc_id: str
    title: str
    text: str


def chunk_documents(docs: Iterable[dict[str, Any]], size: int, overlap: int) -> Iterator[Chunk]:
    """Split each document's text into overlapping windows, cut at whitespace where possible."""
    next_id = 0
    step = size - overlap
    for doc in docs:
        text = doc["text"]
        start = 0
        while start < len(text):
            end = min(len(text), start + size)
            if end < len(text):
                cut = text.rfind(" ", start + step, end)  # prefer a word boundary in the last part
                end = cut if cut > start else end
            piece = text[start:end].strip()
            if piece:
                yield Chunk(id=next_id, doc_id=str(doc["id"]), title=str(doc.get("title", "")), text=piece)
                next_id += 1
            if end >= len(text):
                break
            start = max(end - overlap, start + 1)
