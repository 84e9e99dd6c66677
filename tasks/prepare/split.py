"""Train/eval split by a hash of the record id, and eval decontamination.

``split_of`` depends on nothing but the id, the seed and the eval fraction, so adding records to a
dataset never moves an old record from one split to the other, and raising the eval fraction only
moves records from train to eval.

Decontamination: an eval pair leaks when a train pair asks the same question (the same prompt once
lower-cased and whitespace-collapsed, whatever the answer), or when the two records are near
duplicates: MinHash similarity of their word shingles at or above ``contamination_threshold``.
Dedupe (at its own, usually higher, threshold) has already removed close copies across both
splits; this catches the looser overlaps, and everything when dedupe is off. Train comes from the
whole run, so the check runs once all of it has been seen (``prepare_dataset`` stages eval
records on disk meanwhile).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from tasks.ingest import Record, main_text
from tasks.prepare.dedupe import MinHasher, NearDuplicateIndex, SignatureRows, exact_key

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


class Decontaminator:
    """Finds eval pairs that leak train pairs: the same prompt (lower-cased, whitespace collapsed),
    or a whole record whose MinHash similarity to a train record reaches ``threshold``.

    Feed it every train and eval record of the run (``add``), then ask ``contaminated()`` once:
    the eval side is small, so it is the eval signatures that get an LSH index, and each train
    signature queries it. Memory: a signature and a prompt key per record, no text."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 128, shingle_words: int = 5) -> None:
        self.threshold = threshold
        self.hasher = MinHasher(num_perm, shingle_words)
        self._train_prompts: dict[int, str] = {}
        self._train_ids: list[str] = []
        self._train_signatures = SignatureRows(num_perm)
        self._eval: list[tuple[str, int]] = []  # (id, prompt key)
        self._eval_signatures = SignatureRows(num_perm)

    def add(self, records: Sequence[Record], splits: Sequence[Split], signatures: np.ndarray | None = None) -> None:
        """Remember instruction records of both splits; ``signatures`` (of ``main_text``, as for
        dedupe) may come precomputed."""
        if signatures is None:
            signatures = self.hasher.signatures([main_text(r) for r in records])
        for record, split, signature in zip(records, splits, signatures, strict=True):
            key = exact_key(record.fields["prompt"])
            if split == "train":
                self._train_prompts.setdefault(key, record.id)
                self._train_ids.append(record.id)
                self._train_signatures.append(signature)
            else:
                self._eval.append((record.id, key))
                self._eval_signatures.append(signature)

    def contaminated(self) -> dict[str, str]:
        """{eval id: why it leaks}, the first train record in input order being the one named."""
        reasons: dict[str, str] = {}
        for eval_id, key in self._eval:
            if key in self._train_prompts:
                reasons[eval_id] = f"prompt is the same as train record {self._train_prompts[key]}"
        index = NearDuplicateIndex(self.threshold, self.hasher)
        for row, (eval_id, _) in enumerate(self._eval):
            index.add(self._eval_signatures[row], eval_id)
        if not len(index):
            return reasons
        for row, train_id in enumerate(self._train_ids):
            for eval_id, similarity in index.matches(self._train_signatures[row]):
                reasons.setdefault(
                    eval_id, f"near-duplicates train record {train_id} (estimated Jaccard {similarity:.2f})"
                )
        return reasons
