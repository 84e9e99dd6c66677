"""Word, token, n-gram and shingle hashes, computed with numpy a whole text at a time.

Shared by quality (repeated n-grams), dedupe (MinHash shingles) and decontamination (long word
n-grams), so that the same text is cut the same way everywhere. Deterministic across runs and
processes, unlike ``hash()``.

A text is lower-cased, full-width ASCII forms are folded (``ＡＢＣ！`` is ``abc!``), and each
character falls in one class:

- **word**: letters, digits and underscore of any script, runs of them make one word;
- **ideograph**: Chinese characters and Japanese kana, written without spaces: each one is a word
  of its own (a 40-character Chinese sentence is 40 words, not one);
- **punctuation**: ASCII symbols and Unicode punctuation, arrows and mathematical operators; a run
  of them is one *token* (``==``, ``!=``, ``->``, ``),``) but never part of a word;
- **space**: whitespace and control characters, which only separate.

*Words* (``word_hashes``) drop punctuation: what quality counts and what decontamination compares,
so that the same prompt with other punctuation is the same prompt. *Tokens* (``token_hashes``)
keep it: what near-dedupe shingles, so that ``a < b`` and ``a > b`` stay apart.
"""

from __future__ import annotations

import numpy as np

# Word and shingle hashes are polynomials modulo 2**64 (numpy's uint64 arithmetic wraps) with an
# odd multiplier, the FNV prime; its inverse modulo 2**64 lets a word's hash come out of prefix sums.
_P = 0x100000001B3
_P_INVERSE = pow(_P, -1, 2**64)
_MULTIPLIER = np.uint64(_P)

SPACE, WORD, PUNCTUATION, IDEOGRAPH = 0, 1, 2, 3


def _class_table() -> np.ndarray:
    """The class of every code point of the Basic Multilingual Plane (65,536 int8)."""
    table = np.full(0x10000, WORD, dtype=np.int8)  # letters of every script, by default
    table[:0x21] = SPACE
    for chars in ("!\"#$%&'()*+,-./", ":;<=>?@", "[\\]^`", "{|}~"):
        table[[ord(c) for c in chars]] = PUNCTUATION
    spans = [
        (0x7F, 0xA0, SPACE),  # DEL, C1 controls, no-break space
        (0xA1, 0xBF, PUNCTUATION),  # Latin-1 signs: ¡ § « ° ± · » ¿ ...
        (0x2000, 0x200B, SPACE),
        (0x2010, 0x2027, PUNCTUATION),  # dashes, quotes, bullets, ellipsis
        (0x2028, 0x202F, SPACE),
        (0x2030, 0x205E, PUNCTUATION),
        (0x205F, 0x206F, SPACE),
        (0x2190, 0x23FF, PUNCTUATION),  # arrows, mathematical operators (≤ ≥ ≠ →), technical symbols
        (0x2500, 0x27BF, PUNCTUATION),  # box drawing, shapes, dingbats
        (0x27C0, 0x2BFF, PUNCTUATION),  # more operators and arrows
        (0x2E00, 0x2E7F, PUNCTUATION),
        (0x3000, 0x3000, SPACE),  # ideographic space
        (0x3001, 0x303F, PUNCTUATION),  # CJK punctuation: 、。「」『』【】〜
        (0x3040, 0x30FF, IDEOGRAPH),  # hiragana, katakana
        (0x30FB, 0x30FB, PUNCTUATION),  # katakana middle dot
        (0x31F0, 0x31FF, IDEOGRAPH),
        (0x3400, 0x4DBF, IDEOGRAPH),  # CJK extension A
        (0x4E00, 0x9FFF, IDEOGRAPH),  # CJK unified ideographs
        (0xF900, 0xFAFF, IDEOGRAPH),
        (0xFE10, 0xFE1F, PUNCTUATION),
        (0xFE30, 0xFE6F, PUNCTUATION),  # CJK compatibility and small forms
        (0xFEFF, 0xFEFF, SPACE),  # byte order mark
        (0xFF5F, 0xFF65, PUNCTUATION),  # half-width CJK punctuation
        (0xFF66, 0xFF9F, IDEOGRAPH),  # half-width katakana
    ]
    for first, last, cls in spans:
        table[first : last + 1] = cls
    table[[0xAA, 0xB2, 0xB3, 0xB5, 0xB9, 0xBA, 0x3005]] = WORD  # ª ² ³ µ ¹ º and 々 belong to words
    table[[0xD7, 0xF7]] = PUNCTUATION  # × ÷
    return table


_CLASS = _class_table()
# What a character is to a token (punctuation kept) and to a word (punctuation a separator): one
# table lookup per character.
_TOKEN_KEY = _CLASS
_WORD_KEY = np.where(_CLASS == PUNCTUATION, np.int8(SPACE), _CLASS)
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


def _hashes(text: str, table: np.ndarray) -> np.ndarray:
    """A 64-bit hash per token, the tokens being the runs of characters of one non-space key in
    ``table`` (an ideograph is a token alone). With prefix sums S of code * P**-i, the hash of the
    token at [s, e) is P**(e-1) * (S[e] - S[s]), the polynomial of its code points: no Python-level
    loop over tokens, about five times faster than hashing each token's string. Few numpy calls
    per text: for a short text their fixed cost is most of the time."""
    codes = np.frombuffer(text.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(codes)
    if not n:
        return np.zeros(0, dtype=np.uint64)
    top = int(codes.max())
    if top >= 0xFF01:  # full-width ！ to ～ are ASCII ! to ~ (already lower-cased: ａ, never Ａ)
        codes = np.where((codes >= 0xFF01) & (codes <= 0xFF5E), codes - np.uint32(0xFEE0), codes)
    keys = np.zeros(n + 2, dtype=np.int8)
    if top < 0x10000:
        keys[1:-1] = table.take(codes)
    else:  # CJK extensions B to H are ideographs; other characters beyond the BMP (emoji) are letters
        astral = codes > 0xFFFF
        keys[1:-1] = table.take(np.where(astral, 0x4E00 * ((codes < 0x40000) & (codes >= 0x20000)), codes))
        keys[1:-1][astral & (keys[1:-1] != IDEOGRAPH)] = WORD
    if top >= 0x3040:  # ideographs alternate between two keys, so that each one is a run alone
        ideographs = np.flatnonzero(keys == IDEOGRAPH)
        keys[ideographs[ideographs % 2 == 0]] = IDEOGRAPH + 1
    change = np.flatnonzero(keys[1:] != keys[:-1])  # c: between characters c - 1 and c
    starts = change[keys[change + 1] != SPACE]
    ends = change[keys[change] != SPACE]
    power, inverse = _powers_of_p(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(inverse[:n] * codes, out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * power[ends - 1]


def word_hashes(text: str) -> np.ndarray:
    """A 64-bit hash (uint64) per word of the text, in order: runs of letters, digits and
    underscores, each Chinese or Japanese character alone; punctuation and spaces separate words."""
    return _hashes(text, _WORD_KEY)


def token_hashes(text: str) -> np.ndarray:
    """A 64-bit hash (uint64) per token of the text, in order: the words of ``word_hashes`` (with
    the same hashes) and, between them, each run of punctuation."""
    return _hashes(text, _TOKEN_KEY)


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


def ngram_set(words: np.ndarray, size: int) -> np.ndarray:
    """The distinct ``size``-word n-grams of a text as sorted 32-bit hashes (``words`` from
    ``word_hashes``): what decontamination compares. 32 bits are enough: a chance collision adds
    one shared n-gram to one pair, far from the share that counts as a leak."""
    grams = ngram_hashes(words, size)
    return np.unique(((grams >> np.uint64(32)) ^ grams).astype(np.uint32))


def shingle_hashes(text: str, size: int, words: np.ndarray | None = None) -> np.ndarray:
    """32-bit hashes (uint32) of the shingles of a sequence: the runs of ``size`` consecutive
    words of the text (``words``, ``word_hashes(text)`` by default; pass ``token_hashes(text)``
    for token shingles); a text shorter than ``size`` is one shingle. A repeated shingle repeats
    its hash, which MinHash ignores."""
    if words is None:
        words = word_hashes(text)
    if len(words) == 0:
        return np.zeros(1, dtype=np.uint32)
    combined = ngram_hashes(words, min(size, len(words)))
    return ((combined >> np.uint64(32)) ^ combined).astype(np.uint32)
