"""The passages a prompt carries: the same retrieval for training examples, evaluation and serving.

    passage_window(text, chars, question)  the `chars` of a passage that best match the question's words
    format_passages(hits, chars, question) "[1] title: text" lines, each a window of its passage
    format_contexts(found, questions, ...) the formatted passages of each question, from its hits
    retrieve(...)                          the top-k hits of each question, from one collection
    retrieve_contexts(...)                 the formatted passages for each question
    answer_passages(hits, answer, k, ...)  training only: the k passages to show, the one holding the answer first

A chunk of the index is longer than what a prompt has room for (800 characters against 160 by
default), so each passage is shown as the window of it that holds most of the question's words, the
way a search engine's snippet is: the answer to "What does X say about Y?" follows the words of Y.
Training examples put the retrieved passage that holds their answer first (the index is searched
deeper for it), so the model learns to copy its answer from the context rather than recite one.
A fine-tuned model learns to answer from what `format_passages` writes, so everything that prompts
it (evaluation, `llmops ask`, the drift check's traffic) goes through this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tasks.services import milvus as milvus_service

EmbedFn = Callable[[list[str]], np.ndarray]

_WORD = re.compile(r"\w+")
# Words of a question that say nothing about where its answer is.
_STOPWORDS_TEXT = """
a about an and are as at be by can do does for from how i in is it of on or say says should the this to
use used what when where which who why with you your
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
# Words of an answer that must occur in a row, in a passage, for the passage to hold the answer.
ANSWER_PROBE_WORDS = 8


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def question_terms(question: str) -> set[str]:
    """The words of a question that can place its answer in a passage."""
    return {w for w in _words(question) if w not in _STOPWORDS and len(w) > 1}


def _spans(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group().lower()) for m in re.finditer(r"\S+", text)]


def window_start(text: str, chars: int, question: str) -> int:
    """Where (in whitespace-collapsed `text`) the `chars` window that holds most of the question's words starts.

    Candidates are the text's start and each word of the question in it; the earliest wins a tie.
    """
    terms = question_terms(question)
    spans = _spans(text)
    start, best = 0, -1
    for i, (s, word) in enumerate(spans):
        if i and not terms & set(_words(word)):
            continue
        found = {w for s2, w2 in spans[i:] if s2 + len(w2) <= s + chars for w in _words(w2)} & terms
        if len(found) > best:
            start, best = s, len(found)
    return start


def passage_window(text: str, chars: int, question: str = "", anchor: int | None = None) -> str:
    """At most `chars` characters of `text`, cut at spaces: from the word where the question's words gather.

    With `anchor` (a character offset in the whitespace-collapsed text) the window starts at the
    last word that begins at or before it instead. "... " marks a cut start, " ..." a cut end.
    """
    text = " ".join(text.split())
    if len(text) <= chars:
        return text
    if anchor is not None:
        start = max((s for s, _ in _spans(text) if s <= anchor), default=0)
    else:
        start = window_start(text, chars, question)
    window = text[start : start + chars]
    if start + chars < len(text):
        cut = window.rfind(" ")
        window = (window[:cut] if cut > chars // 2 else window) + " ..."
    return ("... " if start else "") + window


def format_passages(hits: Sequence[Mapping[str, Any]], passage_chars: int, question: str = "") -> str:
    """Numbered passages, best first: `[n] title: text`, the text the window of it that fits the question."""
    lines = []
    for n, hit in enumerate(hits, 1):
        anchor = hit.get("anchor")
        text = passage_window(str(hit.get("text", "")), passage_chars, question, anchor)
        title = str(hit.get("title", "")).strip()
        lines.append(f"[{n}] {title}: {text}" if title else f"[{n}] {text}")
    return "\n".join(lines)


def format_contexts(
    found: Sequence[Sequence[Mapping[str, Any]]], questions: Sequence[str], passage_chars: int, top_k: int | None = None
) -> list[str]:
    """Each question's context: its first `top_k` hits (all by default) through `format_passages`."""
    return [format_passages(hits[:top_k], passage_chars, q) for hits, q in zip(found, questions, strict=True)]


def answer_offset(passage: str, answer: str, probe_words: int = ANSWER_PROBE_WORDS) -> int | None:
    """Where in `passage` (whitespace-collapsed) the answer's opening words are, or None."""
    words = _words(answer)[:probe_words]
    if not words:
        return None
    text = " ".join(passage.split())
    pattern = r"\W+".join(re.escape(w) for w in words)
    found = re.search(rf"(?<!\w){pattern}", text, re.IGNORECASE)
    return found.start() if found else None


def answer_passages(
    hits: Sequence[Mapping[str, Any]], answer: str, top_k: int, question: str = "", chars: int | None = None
) -> list[dict[str, Any]]:
    """The `top_k` passages a training example shows: the first hit that holds the answer, then the best others.

    The hit holding the answer is shown through the same window as at serving time (the one the
    question's words pick) when that window holds the answer's opening; otherwise it gets an
    `anchor` at the answer, so its window starts there. With no hit holding it, the first `top_k`
    hits as retrieved.
    """
    for i, hit in enumerate(hits):
        text = " ".join(str(hit.get("text", "")).split())
        offset = answer_offset(text, answer)
        if offset is None:
            continue
        shown = dict(hit)
        if chars is not None and len(text) > chars:
            start = window_start(text, chars, question)
            if not start <= offset <= start + chars - min(40, chars // 4):  # too little of the answer in view
                shown["anchor"] = offset
        rest = [dict(h) for j, h in enumerate(hits) if j != i]
        return [{**shown, "holds_answer": True}, *rest][:top_k]
    return [dict(h) for h in hits[:top_k]]


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
    return format_contexts(retrieve(milvus, collection, embed, questions, top_k), questions, passage_chars)
