"""Word, n-gram and shingle hashes, computed with numpy a whole text at a time.

Shared by quality (repeated n-grams) and dedupe (MinHash shingles), so that a text's words are
hashed once in the pipeline. Deterministic across runs and processes, unlike ``hash()``.
"""

from __future__ import annotations

import numpy as np

# Word and shingle hashes are polynomials modulo 2**64 (numpy's uint64 arithmetic wraps) with an
# odd multiplier, the FNV prime; its inverse modulo 2**64 lets a word's hash come out of prefix sums.
_P = 0x100000001B3
_P_INVERSE = pow(_P, -1, 2**64)
_MULTIPLIER = np.uint64(_P)
# Bytes that belong to words: ASCII letters, digits, underscore, and every byte of a multi-byte
# UTF-8 character (so non-ASCII letters stay inside their words).
_WORD_BYTE = np.zeros(256, dtype=np.int8)
for _chars in (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", bytes(range(128, 256))):
    _WORD_BYTE[list(_chars)] = 1
_powers: tuple[np.ndarray, np.ndarray] = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers_of_p(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(P**i, P**-i) for i < n, mod 2**64, cached and grown by doubling."""
    global _powers
    if len(_powers[0]) < n:
        size = max(n, 2 * len(_powers[0]), 4_096)
        p = np.full(size, _P, dtype=np.uint64)
        q = np.full(size, _P_INVERSE, dtype=np.uint64)
        p[0] = q[0] = 1
        _powers = (np.cumprod(p, dtype=np.uint64), np.cumprod(q, dtype=np.uint64))
    return _powers


def word_hashes(text: str) -> np.ndarray:
    """A 64-bit hash (uint64) per word of the lower-cased text, in order, all in numpy.

    A word is a run of letters, digits and underscores (any non-ASCII character counts as a
    letter); everything else separates words. With prefix sums S of byte * P**-i, the hash of the
    word at [s, e) is P**(e-1) * (S[e] - S[s]), the polynomial of its bytes: no Python-level loop
    over words, which makes this about five times faster than hashing each word's string."""
    data = np.frombuffer(text.lower().encode("utf-8", "surrogatepass"), dtype=np.uint8)
    n = len(data)
    in_word = np.zeros(n + 2, dtype=np.int8)
    in_word[1:-1] = _WORD_BYTE.take(data)
    edges = np.flatnonzero(in_word[1:] - in_word[:-1])  # alternately a word's start and its end
    if not len(edges):
        return np.zeros(0, dtype=np.uint64)
    starts, ends = edges[0::2], edges[1::2]
    power, inverse = _powers_of_p(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(inverse[:n] * data, out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * power[ends - 1]


def ngram_hashes(words: np.ndarray, size: int) -> np.ndarray:
    """64-bit hashes (uint64) of every run of ``size`` consecutive words, in order (empty when
    there are fewer words): a polynomial of the words' hashes, for all runs at once."""
    n = len(words) - size + 1
    if n < 1:
        return np.zeros(0, dtype=np.uint64)
    combined = words[:n].copy()
    for j in range(1, size):
        combined = combined * _MULTIPLIER + words[j : j + n]
    return combined


def shingle_hashes(text: str, size: int, words: np.ndarray | None = None) -> np.ndarray:
    """32-bit hashes (uint32) of the text's shingles, the runs of ``size`` consecutive words; a text
    shorter than ``size`` words is one shingle. ``words`` (``word_hashes(text)``) may be passed
    when already computed. A repeated shingle repeats its hash, which MinHash ignores."""
    if words is None:
        words = word_hashes(text)
    if len(words) == 0:
        return np.zeros(1, dtype=np.uint32)
    combined = ngram_hashes(words, min(size, len(words)))
    return ((combined >> np.uint64(32)) ^ combined).astype(np.uint32)
