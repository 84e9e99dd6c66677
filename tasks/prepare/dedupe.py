"""Duplicate removal, keeping the first occurrence.

- **exact**: two records whose text is the same after lower-casing and collapsing whitespace. The
  index keeps an 8-byte hash per kept record.
- **near**: MinHash signatures of word shingles (``shingle_words`` consecutive words), indexed in a
  datasketch ``MinHashLSH``. LSH only proposes candidates; a candidate counts when the signatures'
  estimated Jaccard similarity reaches the threshold, so a loose LSH bucket never drops a record.

Each kind has its own index: a document is never a duplicate of an instruction pair. The text
compared is the prompt and response of a pair, the body of a document (see ``schemas.main_text``).

Memory: the index holds, per kept record, its signature (``num_perm`` 32-bit values, 512 bytes at
128) plus the LSH's band tables, about 5 KB in all; this is the one part of the pipeline that grows
with the input (see ``benchmarks/bench_prepare.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from tasks.ingest import Kind, Record, main_text
from tasks.prepare.shingles import shingle_hashes

DedupeMode = Literal["none", "exact", "near"]


def exact_key(text: str) -> int:
    """8-byte hash of the text lower-cased with whitespace collapsed."""
    canonical = " ".join(text.lower().split())
    return int.from_bytes(hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8).digest())


_SLICE = 4_096


def _identity(value: int) -> int:
    return value


# Murmur3's 32-bit finalizer: datasketch applies it to every input hash before its affine
# permutations ("affine32" scheme); ``MinHasher.signatures`` does the same, batched.
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))
# Shingles per matrix in ``signatures``: 32k shingles x 128 permutations x 4 bytes = 16 MB at most.
_CHUNK_SHINGLES = 32_768


def _fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


class MinHasher:
    """MinHash signatures of texts' word shingles, with datasketch's permutations (``affine32``).

    ``signature`` builds one with ``datasketch.MinHash``; ``signatures`` computes many at once with
    the same arithmetic in a few numpy operations per batch, which is what the pipeline uses: the
    per-object overhead of ``MinHash`` costs more than the hashing for short texts. A unit test
    holds the two equal."""

    def __init__(self, num_perm: int = 128, shingle_words: int = 5, seed: int = 1) -> None:
        self.num_perm, self.shingle_words, self.seed = num_perm, shingle_words, seed
        template = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
        self.scheme = template.scheme
        self.permutations = template.permutations
        self._a = template.permutations[0].astype(np.uint32)
        self._b = template.permutations[1].astype(np.uint32)

    def signature(self, text: str) -> np.ndarray:
        """The MinHash values (``num_perm`` uint32) of the text's word shingles, via datasketch."""
        m = MinHash(
            num_perm=self.num_perm,
            seed=self.seed,
            hashfunc=_identity,
            permutations=self.permutations,
            scheme=self.scheme,
        )
        hashes = shingle_hashes(text, self.shingle_words).tolist()
        # In slices: update_batch makes a (shingles x num_perm) matrix, 40 MB for a 1M-character text.
        for start in range(0, len(hashes), _SLICE):
            m.update_batch(hashes[start : start + _SLICE])
        return m.hashvalues

    def signatures(self, texts: Sequence[str], words: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """One signature row per text, equal to ``signature(text)``, computed a chunk of texts at a
        time; ``words`` (``word_hashes`` of each text) may be passed when already computed."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        pending: list[np.ndarray] = []
        first = 0  # index of the first text in pending
        size = 0
        for i, text in enumerate(texts):
            hashes = shingle_hashes(text, self.shingle_words, None if words is None else words[i])
            if size + len(hashes) > _CHUNK_SHINGLES and pending:
                self._fill(out, first, pending)
                pending, first, size = [], i, 0
            pending.append(hashes)
            size += len(hashes)
        if pending:
            self._fill(out, first, pending)
        return out

    def _fill(self, out: np.ndarray, first: int, hashes: list[np.ndarray]) -> None:
        # Laid out permutations x shingles: the minimum then runs along contiguous rows, about
        # four times faster than along columns.
        a, b = self._a[:, None], self._b[:, None]
        if len(hashes) == 1 and len(hashes[0]) > _CHUNK_SHINGLES:  # one long text: a running minimum
            mins = np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
            for start in range(0, len(hashes[0]), _CHUNK_SHINGLES):
                mixed = _fmix32(hashes[0][start : start + _CHUNK_SHINGLES])
                np.minimum(mins, (a * mixed + b).min(axis=1), out=mins)
            out[first] = mins
            return
        offsets = np.cumsum([0] + [len(h) for h in hashes[:-1]])
        permuted = a * _fmix32(np.concatenate(hashes)) + b  # uint32 arithmetic wraps, as in datasketch
        out[first : first + len(hashes)] = np.minimum.reduceat(permuted, offsets, axis=1).T

    def as_minhash(self, signature: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=self.seed, hashvalues=signature, scheme=self.scheme)


# datasketch picks the LSH bands to minimise weighted false positives and false negatives around
# the threshold. Every candidate is checked against its signature anyway, so a false positive costs
# only that check: weigh misses 4 to 1. At threshold 0.8 and 128 permutations this gives 12 bands
# of 10 rows instead of 9 of 13: a pair at similarity 0.9 is found 99.4% of the time instead of
# 92.9% (0.85: 93% instead of 69%), for a third more index memory.
LSH_WEIGHTS = (0.2, 0.8)


class SignatureRows:
    """A growing table of signatures (one uint32 row each), doubling its capacity as needed."""

    def __init__(self, num_perm: int) -> None:
        self._rows = np.empty((1_024, num_perm), dtype=np.uint32)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> np.ndarray:
        return self._rows[index]

    def append(self, signature: np.ndarray) -> int:
        if self.size == len(self._rows):
            self._rows = np.concatenate([self._rows, np.empty_like(self._rows)])
        self._rows[self.size] = signature
        self.size += 1
        return self.size - 1


class NearDuplicateIndex:
    """MinHash LSH over signatures, with candidates confirmed by their estimated Jaccard similarity."""

    def __init__(self, threshold: float, hasher: MinHasher) -> None:
        self.threshold, self.hasher = threshold, hasher
        self.lsh = MinHashLSH(threshold=threshold, num_perm=hasher.num_perm, weights=LSH_WEIGHTS)
        self._signatures = SignatureRows(hasher.num_perm)
        self._names: list[str] = []
        # The LSH reads a sketch's hashvalues during the call and keeps only band hashes, so one
        # sketch object carries every signature in turn (building one costs more than a lookup).
        self._carrier = hasher.as_minhash(np.zeros(hasher.num_perm, dtype=np.uint32))

    def __len__(self) -> int:
        return len(self._names)

    def _sketch(self, signature: np.ndarray) -> LeanMinHash:
        self._carrier.hashvalues = signature
        return self._carrier

    def matches(self, signature: np.ndarray) -> list[tuple[str, float]]:
        """Indexed entries at or above the threshold with their estimated similarity, best first."""
        found = []
        for key in self.lsh.query(self._sketch(signature)):
            similarity = float(np.count_nonzero(self._signatures[key] == signature)) / self.hasher.num_perm
            if similarity >= self.threshold:
                found.append((similarity, -key))
        return [(self._names[-key], similarity) for similarity, key in sorted(found, reverse=True)]

    def find(self, signature: np.ndarray) -> tuple[str, float] | None:
        """The most similar indexed entry at or above the threshold (the earliest among equals)."""
        found = self.matches(signature)
        return found[0] if found else None

    def add(self, signature: np.ndarray, name: str) -> None:
        key = self._signatures.append(signature)
        self._names.append(name)
        self.lsh.insert(key, self._sketch(signature), check_duplication=False)


@dataclass
class Fingerprints:
    """What dedupe needs of a batch, computable anywhere (worker processes): exact keys, and
    MinHash signatures when near-duplicate detection is on."""

    exact: list[int]
    minhash: np.ndarray | None


def fingerprints(
    records: Sequence[Record],
    mode: DedupeMode,
    hasher: MinHasher,
    signatures: bool = False,
    words: Sequence[np.ndarray] | None = None,
) -> Fingerprints:
    """Exact keys (unless mode is none) and MinHash signatures (mode near, or ``signatures``);
    ``words`` (``word_hashes`` of each record's main text) may be passed when already computed."""
    texts = [main_text(r) for r in records]
    return Fingerprints(
        exact=[exact_key(t) for t in texts] if mode != "none" else [],
        minhash=hasher.signatures(texts, words) if mode == "near" or signatures else None,
    )


@dataclass
class DedupeResult:
    kept: list[Record]
    kept_rows: list[int] = field(default_factory=list)  # positions of the kept records in the input
    dropped: list[tuple[Record, str]] = field(default_factory=list)
    exact: int = 0
    near: int = 0


class Deduplicator:
    """Stateful across batches: feed every batch of the run, in order, to ``filter``."""

    def __init__(
        self, mode: DedupeMode = "near", *, threshold: float = 0.8, num_perm: int = 128, shingle_words: int = 5
    ) -> None:
        self.mode = mode
        self.hasher = MinHasher(num_perm, shingle_words)
        self._exact: dict[Kind, dict[int, str]] = {"instruction": {}, "document": {}}
        self._near: dict[Kind, NearDuplicateIndex] = {
            k: NearDuplicateIndex(threshold, self.hasher) for k in ("instruction", "document")
        }

    def fingerprints(self, records: Sequence[Record]) -> Fingerprints:
        return fingerprints(records, self.mode, self.hasher)

    def filter(self, records: Iterable[Record], prints: Fingerprints | None = None) -> DedupeResult:
        """The records not duplicating an earlier one (in this batch or a previous one).

        ``prints`` may be computed ahead with ``fingerprints`` (e.g. in worker processes)."""
        records = list(records)
        result = DedupeResult(kept=[])
        if self.mode == "none":
            result.kept, result.kept_rows = records, list(range(len(records)))
            return result
        prints = prints or self.fingerprints(records)
        for i, record in enumerate(records):
            exact = self._exact[record.kind]
            key = prints.exact[i]
            if key in exact:
                result.exact += 1
                result.dropped.append((record, f"exact duplicate of {exact[key]}"))
                continue
            if self.mode == "near":
                index = self._near[record.kind]
                match = index.find(prints.minhash[i])
                if match is not None:
                    result.near += 1
                    result.dropped.append((record, f"near duplicate of {match[0]} (estimated Jaccard {match[1]:.2f})"))
                    continue
                index.add(prints.minhash[i], record.id)
            exact[key] = record.id
            result.kept.append(record)
            result.kept_rows.append(i)
        return result
