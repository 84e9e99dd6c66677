"""Duplicate removal, keeping the first occurrence.

- **exact**: two records whose text is the same after lower-casing and collapsing whitespace. The
  index keeps an 8-byte hash per kept record.
- **near**: MinHash signatures of token shingles (``shingle_tokens`` consecutive tokens, see
  ``shingles``: words, each Chinese or Japanese character, and runs of punctuation, so ``==`` and
  ``!=`` differ), indexed by LSH bands. LSH only proposes candidates; a candidate
  counts when the signatures' estimated Jaccard similarity reaches the threshold **and** the two
  records name the same things: the code names and numbers of one (``json.dumps``, ``parse_qsl``,
  ``a < b``, ``3.11``) all appear in the other. A copy edited in its prose keeps them, and a copy
  cut short keeps a subset; a sibling API documented in the same words (``json.dump`` and
  ``json.dumps``), a flipped operator or another number is another record, however similar the
  rest of the text.

The defaults (token bigrams, threshold 0.6, 32 bands of 4 rows) come from the precision/recall
curve that ``benchmarks/bench_dedupe.py`` measures on edits of real documentation and on sibling
pairs (``tests/data/near_duplicates``): with the name check, bigrams at 0.6 keep the recall of
every edit kind up to 10% at its ceiling while 2 of 43k similar distinct pairs pass; trigrams lose
reordered sentences above 0.5. 32 bands of 4 rows propose a pair at similarity 0.6 98.8% of the
time, at 0.7 99.98%.

Each kind has its own index: a document is never a duplicate of an instruction pair. The text
compared is the prompt and response of a pair, the body of a document (see ``schemas.main_text``).

Memory: the index holds, per kept record, its signature (``num_perm`` 32-bit values, 512 bytes at
128), at most ``MAX_NAMES`` name hashes, and one entry in each LSH band; this is the one part of the
pipeline that grows with the input (see ``benchmarks/bench_prepare.py``).
"""

from __future__ import annotations

import functools
import hashlib
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from tasks.ingest import Kind, Record, main_text
from tasks.prepare.shingles import ngram_set, shingle_hashes, token_hashes, word_hashes

DedupeMode = Literal["none", "exact", "near"]


def exact_key(text: str) -> int:
    """8-byte hash of the text lower-cased with whitespace collapsed."""
    canonical = " ".join(text.lower().split())
    return int.from_bytes(hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8).digest())


# What a record names: dotted names (json.dumps), names with an underscore (parse_qsl), called
# names (dump(), numbers (3.11, 0), and operators (== != <= -> ** //, or a standalone < > + - * / %
# = and the like). Not the text between backticks: reST's ``x`` and `x' pair up unreliably.
# Anchored at word starts and possessive (*+), so that scanning stays linear in the text's length.
_NAMES = re.compile(
    r"\b[A-Za-z_]\w*+(?:\.[A-Za-z_]\w*+)+"
    r"|\b(?=\w*_)\w++"
    r"|\b[A-Za-z_]\w*+(?=\()"
    r"|\b\d++(?:\.\d++)*+\b"
    r"|[=!<>]=|<<|>>|->|\*\*|//"
    r"|(?<!\S)[-+*/%<>=&|^~@]{1,3}(?!\S)"
)
# Names kept per record: the smallest hashes (a bottom-k sketch), enough for the nesting test.
MAX_NAMES = 64


def name_hashes(text: str) -> np.ndarray:
    """The record's names as a sorted array of distinct 32-bit hashes, the ``MAX_NAMES`` smallest."""
    found = {m.lower() for m in _NAMES.findall(text)}
    hashes = np.unique(np.array([zlib.crc32(m.encode("utf-8", "surrogatepass")) for m in found], dtype=np.uint32))
    return hashes[:MAX_NAMES]


def _within(small: np.ndarray, large: np.ndarray) -> bool:
    """Whether every name of ``small`` is in ``large``, as far as the two sketches tell: a name
    above the largest kept hash of a full sketch is not known either way."""
    if len(large) == MAX_NAMES:
        small = small[small <= large[-1]]
    # Python sets: for a few dozen names, np.isin's set-up costs ten times the test itself.
    return set(small.tolist()) <= set(large.tolist())


def same_names(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether one record's names are all among the other's (either way round)."""
    return _within(a, b) if len(a) <= len(b) else _within(b, a)


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
    """MinHash signatures of texts' token shingles, with datasketch's permutations (``affine32``).

    ``signature`` builds one with ``datasketch.MinHash``; ``signatures`` computes many at once with
    the same arithmetic in a few numpy operations per batch, which is what the pipeline uses: the
    per-object overhead of ``MinHash`` costs more than the hashing for short texts. A unit test
    holds the two equal."""

    def __init__(self, num_perm: int = 128, shingle_tokens: int = 2, seed: int = 1) -> None:
        self.num_perm, self.shingle_tokens, self.seed = num_perm, shingle_tokens, seed
        template = MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
        self.scheme = template.scheme
        self.permutations = template.permutations
        self._a = template.permutations[0].astype(np.uint32)
        self._b = template.permutations[1].astype(np.uint32)

    def shingles(self, text: str, tokens: np.ndarray | None = None) -> np.ndarray:
        """The 32-bit hashes of the text's shingles; ``tokens`` (``token_hashes(text)``) may be
        passed when already computed."""
        return shingle_hashes(text, self.shingle_tokens, token_hashes(text) if tokens is None else tokens)

    def signature(self, text: str) -> np.ndarray:
        """The MinHash values (``num_perm`` uint32) of the text's token shingles, via datasketch."""
        m = MinHash(
            num_perm=self.num_perm,
            seed=self.seed,
            hashfunc=_identity,
            permutations=self.permutations,
            scheme=self.scheme,
        )
        hashes = self.shingles(text).tolist()
        # In slices: update_batch makes a (shingles x num_perm) matrix, 40 MB for a 1M-character text.
        for start in range(0, len(hashes), _SLICE):
            m.update_batch(hashes[start : start + _SLICE])
        return m.hashvalues

    def signatures(self, texts: Sequence[str], tokens: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """One signature row per text, equal to ``signature(text)``, computed a chunk of texts at a
        time; ``tokens`` (``token_hashes`` of each text) may be passed when already computed."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        pending: list[np.ndarray] = []
        first = 0  # index of the first text in pending
        size = 0
        for i, text in enumerate(texts):
            hashes = self.shingles(text, None if tokens is None else tokens[i])
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


# The LSH banding: ``bands`` bands of ``num_perm // bands`` rows. A pair at similarity s becomes a
# candidate with probability 1 - (1 - s**rows)**bands; every candidate is then checked against its
# signature and names, so a false candidate costs only that check. Without ``bands``, datasketch
# picks the banding that minimises weighted false candidates and misses around the threshold, with
# misses weighed 4 to 1.
LSH_WEIGHTS = (0.2, 0.8)


@functools.lru_cache(maxsize=16)
def lsh_params(threshold: float, num_perm: int, bands: int | None = None) -> tuple[int, int]:
    """(bands, rows per band) of the LSH: ``bands`` as given, or datasketch's choice (cached: it
    integrates the error curves of every banding)."""
    if bands is None:
        probe = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
        return probe.b, probe.r
    if not 2 <= bands <= num_perm // 2:
        raise ValueError(f"bands must be between 2 and num_perm / 2 ({num_perm // 2}), got {bands}")
    return bands, num_perm // bands


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """The chance that LSH proposes a pair of this similarity (the S-curve of the banding)."""
    return 1 - (1 - similarity**rows) ** bands


class SignatureRows:
    """A growing table of signatures (one uint32 row each), doubling its capacity as needed."""

    def __init__(self, num_perm: int) -> None:
        self._rows = np.empty((1_024, num_perm), dtype=np.uint32)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> np.ndarray:
        return self._rows[index]

    def rows(self, indexes: np.ndarray) -> np.ndarray:
        return self._rows[indexes]

    def append(self, signature: np.ndarray) -> int:
        if self.size == len(self._rows):
            self._rows = np.concatenate([self._rows, np.empty_like(self._rows)])
        self._rows[self.size] = signature
        self.size += 1
        return self.size - 1


# Odd 64-bit multipliers that fold a band's rows into one key (a collision only adds a candidate,
# which the signature check then rejects).
_BAND_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x85EBCA77C2B2AE63, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)  # fmt: skip


class NearDuplicateIndex:
    """LSH over MinHash signatures, with candidates confirmed by their estimated Jaccard
    similarity and by their names (``same_names``).

    The bands are plain dicts from a band's key to the records holding it, the keys of all bands
    computed in one numpy operation: datasketch's ``MinHashLSH`` spends about 15 µs per band per
    record in Python, which at 32 bands was most of the time of dedupe."""

    def __init__(self, threshold: float, hasher: MinHasher, bands: int | None = None) -> None:
        self.threshold, self.hasher = threshold, hasher
        self.bands, self.rows = lsh_params(threshold, hasher.num_perm, bands)
        if self.rows > len(_BAND_MULTIPLIERS):
            raise ValueError(f"at most {len(_BAND_MULTIPLIERS)} rows per band, got {self.rows}: use more bands")
        self._tables: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self._signatures = SignatureRows(hasher.num_perm)
        self._ids: list[str] = []
        self._names: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._ids)

    def band_keys(self, signatures: np.ndarray) -> list[list[int]]:
        """Each signature's band keys (one row of signatures, or a matrix of them), in one numpy operation."""
        signatures = np.atleast_2d(signatures)
        banded = signatures[:, : self.bands * self.rows].reshape(len(signatures), self.bands, self.rows)
        return (banded.astype(np.uint64) * _BAND_MULTIPLIERS[: self.rows]).sum(axis=2).tolist()

    def candidates(self, signature: np.ndarray, keys: list[int] | None = None) -> set[int]:
        """Rows of the indexed entries that share at least one band with the signature (whose
        ``band_keys`` may be given when computed for a whole batch)."""
        found: set[int] = set()
        for table, key in zip(self._tables, keys or self.band_keys(signature)[0], strict=True):
            hit = table.get(key)
            if hit is not None:
                found.update(hit)
        return found

    def matches(
        self, signature: np.ndarray, names: np.ndarray, keys: list[int] | None = None
    ) -> list[tuple[str, float]]:
        """Indexed entries at or above the threshold that name the same things, with their
        estimated similarity, best first."""
        candidates = self.candidates(signature, keys)
        if not candidates:
            return []
        # All candidates at once: templated records (one question asked of many names) can make
        # hundreds of candidates per query.
        keys = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        agree = np.count_nonzero(self._signatures.rows(keys) == signature, axis=1)
        above = agree >= self.threshold * self.hasher.num_perm
        found = [
            (int(a) / self.hasher.num_perm, -int(k))
            for k, a in zip(keys[above], agree[above], strict=True)
            if same_names(self._names[k], names)
        ]
        return [(self._ids[-key], similarity) for similarity, key in sorted(found, reverse=True)]

    def find(self, signature: np.ndarray, names: np.ndarray, keys: list[int] | None = None) -> tuple[str, float] | None:
        """The most similar matching entry (the earliest among equals), or None."""
        found = self.matches(signature, names, keys)
        return found[0] if found else None

    def add(self, signature: np.ndarray, names: np.ndarray, record_id: str, keys: list[int] | None = None) -> None:
        row = self._signatures.append(signature)
        self._ids.append(record_id)
        self._names.append(names)
        for table, key in zip(self._tables, keys or self.band_keys(signature)[0], strict=True):
            table.setdefault(key, []).append(row)


@dataclass
class Fingerprints:
    """What dedupe and decontamination need of a batch, computable anywhere (worker processes):
    exact keys; MinHash signatures and names when near-duplicate detection is on; the word
    n-grams of decontamination (``ngram_set``) when asked for."""

    exact: list[int]
    minhash: np.ndarray | None
    names: list[np.ndarray] | None = None
    ngrams: list[np.ndarray] | None = None

    def take(self, rows: Sequence[int]) -> Fingerprints:
        """The fingerprints of these rows only, in this order."""
        rows = list(rows)
        return Fingerprints(
            [self.exact[i] for i in rows] if self.exact else [],
            self.minhash[rows] if self.minhash is not None else None,
            [self.names[i] for i in rows] if self.names is not None else None,
            [self.ngrams[i] for i in rows] if self.ngrams is not None else None,
        )


def fingerprints(
    records: Sequence[Record],
    mode: DedupeMode,
    hasher: MinHasher,
    ngram_words: int = 0,
    words: Sequence[np.ndarray] | None = None,
) -> Fingerprints:
    """Exact keys (unless mode is none), MinHash signatures and names (mode near), and the
    decontamination n-grams of ``ngram_words`` words (when above 0; instruction records only, an
    empty array for documents). ``words`` (``word_hashes`` of each record's main text) may be
    passed when already computed."""
    texts = [main_text(r) for r in records]
    ngrams = None
    if ngram_words > 0:
        if words is None:
            words = [word_hashes(t) for t in texts]
        empty = np.zeros(0, dtype=np.uint32)
        ngrams = [
            ngram_set(w, ngram_words) if r.kind == "instruction" else empty for r, w in zip(records, words, strict=True)
        ]
    near = mode == "near"
    return Fingerprints(
        exact=[exact_key(t) for t in texts] if mode != "none" else [],
        minhash=hasher.signatures(texts) if near else None,
        names=[name_hashes(t) for t in texts] if near else None,
        ngrams=ngrams,
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
        self,
        mode: DedupeMode = "near",
        *,
        threshold: float = 0.6,
        num_perm: int = 128,
        shingle_tokens: int = 2,
        bands: int | None = 32,
    ) -> None:
        self.mode = mode
        self.hasher = MinHasher(num_perm, shingle_tokens)
        self._exact: dict[Kind, dict[int, str]] = {"instruction": {}, "document": {}}
        self._near: dict[Kind, NearDuplicateIndex] = {
            k: NearDuplicateIndex(threshold, self.hasher, bands) for k in ("instruction", "document")
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
        # every index bands alike: the keys of the whole batch at once
        keys = self._near["document"].band_keys(prints.minhash) if self.mode == "near" and records else []
        for i, record in enumerate(records):
            exact = self._exact[record.kind]
            key = prints.exact[i]
            if key in exact:
                result.exact += 1
                result.dropped.append((record, f"exact duplicate of {exact[key]}"))
                continue
            if self.mode == "near":
                index = self._near[record.kind]
                match = index.find(prints.minhash[i], prints.names[i], keys[i])
                if match is not None:
                    result.near += 1
                    result.dropped.append((record, f"near duplicate of {match[0]} (estimated Jaccard {match[1]:.2f})"))
                    continue
                index.add(prints.minhash[i], prints.names[i], record.id, keys[i])
            exact[key] = record.id
            result.kept.append(record)
            result.kept_rows.append(i)
        return result
