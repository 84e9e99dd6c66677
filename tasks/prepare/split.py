"""Train/eval split by a hash of the record id, and eval decontamination.

``split_of`` depends on nothing but the id, the seed and the eval fraction, so adding records to a
dataset never moves an old record from one split to the other, and raising the eval fraction only
moves records from train to eval.

Decontamination is the long n-gram overlap test of LLM benchmark decontamination, on normalised
text: lower-cased, punctuation and whitespace dropped (the words of ``shingles.word_hashes``, each
Chinese or Japanese character a word). An eval pair leaks from a train pair when

- they ask the same question: the same words in the prompt, whatever the punctuation, spacing and
  case, and whatever the answers; or
- they share at least ``threshold`` of the distinct ``ngram_words``-word n-grams of the shorter of
  the two texts (prompt and response): the eval item inside a longer train record, a train record
  inside a longer eval item, or two close copies. A copy with a few words changed keeps most of
  its long n-grams; two different answers share a stock phrase or two at most.

The defaults, 6-word n-grams and a share of 0.4, come from ``benchmarks/bench_dedupe.py`` on the
eval pairs this project derives from documentation (about 11 words, prompt and answer): an eval
item with its edited copy in train is caught 94% of the time for 5% edits and 91% for 10% edits,
one inside a longer train record (or the reverse) always, while 0.4% of eval items are flagged
against 500 unrelated train pairs (those flagged share an answer: Semaphore.release and
BoundedSemaphore.release). At a share of 0.3, 6% were; 8-word n-grams catch 82% of 10% edits,
13-word ones 18%. A pair about a sibling API whose answer repeats the other's sentences
(json.dump, json.dumps) is flagged 29% of the time: that answer does leak.

Dedupe has already removed close copies across both splits; this catches the looser overlaps, and
everything when dedupe is off. Train comes from the whole run, so the check runs once all of it
has been seen (``prepare_dataset`` stages eval records on disk meanwhile).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from tasks.ingest import Record, main_text
from tasks.prepare.shingles import ngram_set, word_hashes

Split = Literal["train", "eval"]
_SCALE = float(1 << 64)


def split_of(record_id: str, eval_fraction: float, seed: str = "") -> Split:
    """``eval`` for a fixed pseudo-random share ``eval_fraction`` of ids, ``train`` otherwise."""
    digest = hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=8, key=seed.encode()[:64])
    return "eval" if int.from_bytes(digest.digest()) / _SCALE < eval_fraction else "train"


def assign_splits(
    records: Iterable[Record],
    eval_fraction: float,
    seed: str = "",
) -> tuple[list[Record], list[Record]]:
    """(train, eval) records, in input order."""
    train: list[Record] = []
    evaluation: list[Record] = []
    for record in records:
        (evaluation if split_of(record.id, eval_fraction, seed) == "eval" else train).append(record)
    return train, evaluation


def prompt_key(prompt: str) -> int | None:
    """8-byte hash of the prompt's words (case, punctuation and spacing dropped); None when it has
    no words."""
    words = word_hashes(prompt)
    if not len(words):
        return None
    return int.from_bytes(hashlib.blake2b(words.tobytes(), digest_size=8).digest())


# Eval n-grams looked up per chunk of train n-grams: 4M lookups keep the temporaries near 100 MB.
_LOOKUP_CHUNK = 1 << 22
# An n-gram in more eval items than this is boilerplate (a licence line, a template), evidence of no
# one leak; left out of the table, it cannot multiply the pairs to count by the size of both splits.
_COMMON = 100


class Decontaminator:
    """Finds eval pairs that leak train pairs: the same prompt words, or long n-grams shared (see
    the module docstring).

    Feed it every train and eval record of the run (``add``), then ask ``contaminated()`` once:
    the eval side is small, so its n-grams become a sorted table that every train n-gram is looked
    up in. Memory: a prompt key and the distinct n-gram hashes (4 bytes each, about one per word)
    per record, no text."""

    def __init__(self, threshold: float = 0.4, ngram_words: int = 6) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold is a share of n-grams, in (0, 1]; got {threshold}")
        if ngram_words < 1:
            raise ValueError(f"ngram_words must be at least 1, got {ngram_words}")
        self.threshold, self.ngram_words = threshold, ngram_words
        self._train_prompts: dict[int, str] = {}
        self._train_ids: list[str] = []
        self._train_ngrams: list[np.ndarray] = []
        self._eval: list[tuple[str, int | None]] = []  # (id, prompt key)
        self._eval_ngrams: list[np.ndarray] = []

    def add(
        self, records: Sequence[Record], splits: Sequence[Split], ngrams: Sequence[np.ndarray] | None = None
    ) -> None:
        """Remember instruction records of both splits; ``ngrams`` (``shingles.ngram_set`` of each
        main text, as ``dedupe.fingerprints`` computes them) may come precomputed."""
        if ngrams is None:
            ngrams = [ngram_set(word_hashes(main_text(r)), self.ngram_words) for r in records]
        for record, split, grams in zip(records, splits, ngrams, strict=True):
            key = prompt_key(record.fields["prompt"])
            if split == "train":
                if key is not None:
                    self._train_prompts.setdefault(key, record.id)
                self._train_ids.append(record.id)
                self._train_ngrams.append(grams)
            else:
                self._eval.append((record.id, key))
                self._eval_ngrams.append(grams)

    def contaminated(self) -> dict[str, str]:
        """{eval id: why it leaks}, the first train record in input order being the one named."""
        reasons: dict[str, str] = {}
        for eval_id, key in self._eval:
            if key is not None and key in self._train_prompts:
                reasons[eval_id] = f"prompt is the same as train record {self._train_prompts[key]}"
        if not self._eval or not self._train_ids:
            return reasons
        for train_row, eval_row, shared, smaller in self._overlaps():
            eval_id = self._eval[eval_row][0]
            if eval_id not in reasons:
                reasons[eval_id] = (
                    f"near-duplicates train record {self._train_ids[train_row]} ({shared} of {smaller} "
                    f"{self.ngram_words}-word n-grams of the shorter text shared)"
                )
        return reasons

    def _overlaps(self) -> list[tuple[int, int, int, int]]:
        """(train row, eval row, shared n-grams, n-grams of the shorter) of every pair at or above
        the threshold, by train row then eval row: all in numpy, a chunk of train n-grams at a time."""
        eval_sizes = np.array([len(g) for g in self._eval_ngrams], dtype=np.int64)
        train_sizes = np.array([len(g) for g in self._train_ngrams], dtype=np.int64)
        if not eval_sizes.sum() or not train_sizes.sum():
            return []
        table = np.concatenate(self._eval_ngrams)
        owners = np.repeat(np.arange(len(eval_sizes)), eval_sizes)
        order = np.argsort(table, kind="stable")
        table, owners = table[order], owners[order]
        _, counts = np.unique(table, return_counts=True)
        if counts.max() > _COMMON:
            rare = np.repeat(counts <= _COMMON, counts)
            table, owners = table[rare], owners[rare]
        found: list[tuple[int, int, int, int]] = []
        first = 0
        while first < len(self._train_ngrams):
            last, size = first, 0
            while last < len(self._train_ngrams) and (size == 0 or size + train_sizes[last] <= _LOOKUP_CHUNK):
                size += train_sizes[last]
                last += 1
            found += self._chunk_overlaps(first, last, table, owners, eval_sizes, train_sizes)
            first = last
        return found

    def _chunk_overlaps(
        self,
        first: int,
        last: int,
        table: np.ndarray,
        owners: np.ndarray,
        eval_sizes: np.ndarray,
        train_sizes: np.ndarray,
    ) -> list[tuple[int, int, int, int]]:
        grams = np.concatenate(self._train_ngrams[first:last])
        if not len(grams):
            return []
        rows = np.repeat(np.arange(first, last), train_sizes[first:last])
        lo, hi = np.searchsorted(table, grams, "left"), np.searchsorted(table, grams, "right")
        hits = hi - lo  # eval items holding each train n-gram (an n-gram is distinct within an item)
        if not hits.any():
            return []
        train_rows = np.repeat(rows, hits)
        starts = np.repeat(lo, hits)
        offsets = np.arange(len(starts)) - np.repeat(np.cumsum(hits) - hits, hits)
        eval_rows = owners[starts + offsets]
        pairs, shared = np.unique(train_rows * len(eval_sizes) + eval_rows, return_counts=True)
        train_of, eval_of = np.divmod(pairs, len(eval_sizes))
        smaller = np.minimum(train_sizes[train_of], eval_sizes[eval_of])
        leak = shared >= self.threshold * smaller
        return list(
            zip(
                train_of[leak].tolist(),
                eval_of[leak].tolist(),
                shared[leak].tolist(),
                smaller[leak].tolist(),
                strict=True,
            )
        )
