"""Synthetic data for tests and benchmarks: fake personal data and secrets, and a labelled corpus.

Everything is generated from a seeded ``random.Random``, so a seed always gives the same output.
Nothing here is real: card numbers pass the Luhn check and IBANs the mod-97 check, but are random.

- ``FAKERS[type](rng)`` makes one value of a redaction type; ``plant_pii`` inserts some into a
  text and says which secret strings must not survive redaction.
- ``SyntheticCorpus`` generates raw records (instruction pairs and documents) with planted near
  duplicates, exact duplicates, unrelated look-alikes, personal data of every type, quality
  outliers and invalid records, and keeps the ground truth for each.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tasks.ingest.records import Record
from tasks.prepare.redact import REDACTION_TYPES, luhn_valid
from tasks.prepare.shingles import shingle_hashes

_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _digits(rng: random.Random, n: int) -> str:
    return _chars(rng, string.digits, n)


def fake_email(rng: random.Random) -> str:
    user = rng.choice(["alice", "bob", "j.doe", "maria_k", "dev+ops", "s.ng", "x"]) + _digits(rng, rng.randint(0, 3))
    domain = rng.choice(["example.com", "mail.example.org", "corp.example.net", "uni.example.ac.uk"])
    return f"{user}@{domain}"


def fake_phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), _digits(rng, 4)
    return rng.choice(
        [
            f"+1 {a} {b} {c}",
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"+1-{a}-{b}-{c}",
            f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
            f"+49 30 {_digits(rng, 7)}",
            f"+33 1 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
            f"+4930{_digits(rng, 7)}",
        ]
    )


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    for check in string.digits:
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


def fake_card(rng: random.Random) -> str:
    brand = rng.choice(["visa", "mastercard", "amex", "discover"])
    if brand == "amex":
        n = _luhn_complete(rng.choice(["34", "37"]), 15, rng)
        return rng.choice([n, f"{n[:4]} {n[4:10]} {n[10:]}", f"{n[:4]}-{n[4:10]}-{n[10:]}"])
    prefix = {"visa": "4", "mastercard": str(rng.randint(51, 55)), "discover": "6011"}[brand]
    n = _luhn_complete(prefix, 16, rng)
    sep = rng.choice(["", " ", "-"])
    return sep.join(n[i : i + 4] for i in range(0, 16, 4))


def iban_with_check(country: str, bban: str) -> str:
    """An IBAN with correct check digits for ``country`` and the national part ``bban``."""
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def fake_iban(rng: random.Random) -> str:
    country, bban = rng.choice(
        [
            ("DE", _digits(rng, 18)),
            ("GB", _chars(rng, string.ascii_uppercase, 4) + _digits(rng, 14)),
            ("FR", _digits(rng, 23)),
            ("NL", _chars(rng, string.ascii_uppercase, 4) + _digits(rng, 10)),
            ("ES", _digits(rng, 20)),
            ("IT", rng.choice(string.ascii_uppercase) + _digits(rng, 22)),
        ]
    )
    iban = iban_with_check(country, bban)
    return iban if rng.random() < 0.5 else " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def fake_ipv4(rng: random.Random) -> str:
    first = rng.choice([8, 23, 45, 62, 81, 93, 104, 151, 185, 203, 212])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def fake_ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return ":".join(["2001", "db8"] + groups[2:4]) + "::" + groups[7]
    return ":".join(["2a02"] + groups[1:])


def fake_ip(rng: random.Random) -> str:
    return fake_ipv4(rng) if rng.random() < 0.7 else fake_ipv6(rng)


def fake_national_id(rng: random.Random) -> str:
    if rng.random() < 0.7:
        area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
        return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    first = rng.choice("ABCEHJKLMPRSTWXY")
    second = rng.choice("ABCEHJLMPRSTWXY")
    d = _digits(rng, 6)
    nino = f"{first}{second}{d}{rng.choice('ABCD')}"
    return nino if rng.random() < 0.5 else f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {nino[-1]}"


def fake_api_key(rng: random.Random) -> str:
    return rng.choice(
        [
            "AKIA" + _chars(rng, _UPPER_ALNUM, 16),
            "ghp_" + _chars(rng, _ALNUM, 36),
            f"xoxb-{_digits(rng, 12)}-{_digits(rng, 13)}-{_chars(rng, _ALNUM, 24)}",
            "sk-" + _chars(rng, _ALNUM + "_-", rng.randint(32, 48)),
            "sk-proj-" + _chars(rng, _ALNUM, 40),
            "AIza" + _chars(rng, _ALNUM + "_-", 35),
            "sk_live_" + _chars(rng, _ALNUM, 24),
        ]
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": _digits(rng, 10), "iat": rng.randint(1_600_000_000, 1_800_000_000)}).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def fake_token(rng: random.Random) -> str:
    """A JWT, or an opaque bearer credential (the part after ``Bearer `` is the secret)."""
    return fake_jwt(rng) if rng.random() < 0.5 else _chars(rng, string.hexdigits.lower()[:16], 40)


def fake_private_key(rng: random.Random) -> str:
    body = base64.b64encode(rng.randbytes(48 * rng.randint(4, 8))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    label = rng.choice(["", "RSA ", "EC ", "OPENSSH "])
    return f"-----BEGIN {label}PRIVATE KEY-----\n{lines}\n-----END {label}PRIVATE KEY-----"


def fake_credential(rng: random.Random) -> str:
    """A password as a config line assigns it (the lead-in names the key)."""
    return rng.choice(string.ascii_letters) + _chars(rng, _ALNUM + "!#*-_", rng.randint(9, 23))


FAKERS: dict[str, Callable[[random.Random], str]] = {
    "PRIVATE_KEY": fake_private_key,
    "TOKEN": fake_token,
    "API_KEY": fake_api_key,
    "EMAIL": fake_email,
    "IBAN": fake_iban,
    "CARD": fake_card,
    "NATIONAL_ID": fake_national_id,
    "PHONE": fake_phone,
    "IP": fake_ip,
    "CREDENTIAL": fake_credential,
}
_LEAD_INS = {
    "PRIVATE_KEY": "key:\n",
    "TOKEN": "",
    "API_KEY": "api key",
    "EMAIL": "write to",
    "IBAN": "IBAN",
    "CARD": "card",
    "NATIONAL_ID": "id",
    "PHONE": "call",
    "IP": "host",
    "CREDENTIAL": "DB_PASSWORD=",
}


def plant_pii(
    text: str,
    rng: random.Random,
    types: tuple[str, ...] = REDACTION_TYPES,
    count: int = 1,
) -> tuple[str, list[tuple[str, str]]]:
    """``text`` with ``count`` values of each type inserted between words, and (type, secret) for
    each: the exact string that must not appear after redaction."""
    words = text.split(" ")
    planted: list[tuple[str, str]] = []
    for kind in types:
        for _ in range(count):
            secret = FAKERS[kind](rng)
            shown = secret
            if kind == "TOKEN" and not secret.startswith("eyJ"):
                shown = f"Authorization: Bearer {secret}"
            lead = _LEAD_INS[kind]
            snippet = f"{lead}{'' if lead.endswith('=') else ' '}{shown}".strip()
            if kind == "PRIVATE_KEY":
                snippet = f"\n{shown}\n"
            words.insert(rng.randint(0, len(words)), snippet)
            planted.append((kind, secret))
    return " ".join(words), planted


# --------------------------------------------------------------------------- labelled corpus

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "shi",
    "po",
    "ve",
    "da",
    "zu",
    "re",
    "an",
    "el",
    "or",
    "is",
    "um",
    "qua",
    "bra",
    "tor",
    "fen",
    "gil",
    "hop",
    "jex",
    "mur",
    "nix",
    "pla",
    "sto",
    "wen",
    "yar",
)


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


@dataclass
class CorpusTruth:
    """What was planted, by record id."""

    near_duplicates: dict[str, str] = field(default_factory=dict)  # copy id -> original id
    exact_duplicates: dict[str, str] = field(default_factory=dict)
    lookalikes: set[str] = field(default_factory=set)  # share words with an earlier record, not duplicates
    pii: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # id -> [(type, secret)]
    outliers: dict[str, str] = field(default_factory=dict)  # id -> quality filter expected to drop it
    invalid: set[str] = field(default_factory=set)  # records validation must reject


@dataclass
class SyntheticCorpus:
    """``records(n)`` yields raw records; ``truth`` fills in as they are generated.

    Shares, of all records: near duplicates 5%, exact duplicates 1%, look-alikes 2%, personal data
    8% (every type in turn), quality outliers 2%, invalid records 0.3%; 70% instruction pairs."""

    seed: int = 0
    truth: CorpusTruth = field(default_factory=CorpusTruth)
    uri: str = "synthetic://corpus"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        vocab = _vocabulary(self.rng, 6_000)
        # Zipf-like word frequencies, as in natural text: a few words are very common.
        self._words = vocab
        self._weights = [1 / (rank + 1) ** 0.9 for rank in range(len(vocab))]
        self._cum: list[float] = []
        total = 0.0
        for w in self._weights:
            total += w
            self._cum.append(total)
        self._pii_turn = 0

    def _text(self, n_words: int) -> str:
        words = self.rng.choices(self._words, cum_weights=self._cum, k=n_words)
        out, i = [], 0
        while i < n_words:
            size = self.rng.randint(6, 18)
            sentence = words[i : i + size]
            out.append(sentence[0].capitalize() + " " + " ".join(sentence[1:]) + ".")
            i += size
        paragraphs, j = [], 0
        while j < len(out):
            k = self.rng.randint(3, 6)
            paragraphs.append(" ".join(out[j : j + k]))
            j += k
        return "\n\n".join(paragraphs)

    def _fresh(self, kind: str) -> dict[str, str]:
        if kind == "instruction":
            prompt = self._text(self.rng.randint(8, 25)).rstrip(".") + "?"
            return {"prompt": prompt, "response": self._text(self.rng.randint(40, 200))}
        return {"title": self._text(self.rng.randint(3, 6)).rstrip("."), "text": self._text(self.rng.randint(100, 400))}

    def _main(self, kind: str, fields: dict[str, str]) -> str:
        return f"{fields['prompt']}\n{fields['response']}" if kind == "instruction" else fields["text"]

    def _near_copy(self, kind: str, fields: dict[str, str]) -> dict[str, str]:
        """A copy a reader would call the same record: a changed word per hundred, punctuation
        changes, a sentence added; kept only if the true 5-word-shingle Jaccard stays >= 0.9."""
        key = "response" if kind == "instruction" else "text"
        original = fields[key]
        words = original.split(" ")
        for _ in range(len(words) // 100):
            words[self.rng.randrange(len(words))] = self.rng.choice(self._words)
        text = " ".join(words).replace(".", "!", 1).replace(", ", " ", 1)
        if self.rng.random() < 0.5 and len(words) > 120:
            text += " " + self._text(6)
        copy = {**fields, key: text}
        a = set(shingle_hashes(self._main(kind, fields), 5).tolist())
        b = set(shingle_hashes(self._main(kind, copy), 5).tolist())
        if len(a & b) / len(a | b) < 0.9:
            copy = {**fields, key: original.replace(".", ";", 1) + " Indeed."}
        return copy

    def _outlier(self, kind: str, fields: dict[str, str]) -> tuple[dict[str, str], str]:
        key = "response" if kind == "instruction" else "text"
        roll = self.rng.random()
        if roll < 0.3:
            return (
                {**fields, "prompt": "Hi?", "response": "ok"} if kind == "instruction" else {**fields, "text": "short"}
            ), "too_short"
        if roll < 0.35:
            return {**fields, key: self._text(20) * 1_000}, "too_long"
        if roll < 0.7:
            line = self._text(5).replace("\n", " ")
            return {**fields, key: "\n".join([line] * self.rng.randint(10, 40))}, "repeated_lines"
        phrase = " ".join(self.rng.choices(self._words, k=4))
        return {**fields, key: " ".join([phrase] * self.rng.randint(30, 80))}, "repeated_ngrams"

    def _invalid(self, kind: str, fields: dict[str, str]) -> dict[str, object]:
        roll = self.rng.random()
        key = "response" if kind == "instruction" else "text"
        if roll < 0.4:
            return {k: v for k, v in fields.items() if k != key}
        if roll < 0.7:
            return {**fields, key: self.rng.randint(0, 1000)}
        return {**fields, key: fields[key][:20] + "\udcff" + fields[key][20:]}

    def records(self, n: int) -> Iterator[Record]:
        """``n`` raw records (ids ``syn-<i>``), deterministic for the seed."""
        rng = self.rng
        clean: list[tuple[str, dict[str, str], str]] = []  # earlier clean records, to copy from
        for i in range(n):
            rid = f"syn-{i:08d}"
            kind = "instruction" if rng.random() < 0.7 else "document"
            roll = rng.random()
            if roll < 0.05 and clean:
                kind, original, oid = clean[rng.randrange(len(clean))]
                fields = self._near_copy(kind, original)
                self.truth.near_duplicates[rid] = oid
            elif roll < 0.06 and clean:
                kind, original, oid = clean[rng.randrange(len(clean))]
                fields = dict(original)
                self.truth.exact_duplicates[rid] = oid
            elif roll < 0.08 and clean:
                kind, original, oid = clean[rng.randrange(len(clean))]
                key = "response" if kind == "instruction" else "text"
                head = original[key].split(" ")
                fresh = self._fresh(kind)
                fields = {**fresh, key: " ".join(head[: len(head) // 3]) + " " + fresh[key]}
                self.truth.lookalikes.add(rid)
            elif roll < 0.16:
                fields = self._fresh(kind)
                key = "response" if kind == "instruction" else "text"
                pii_type = REDACTION_TYPES[self._pii_turn % len(REDACTION_TYPES)]
                self._pii_turn += 1
                fields[key], planted = plant_pii(fields[key], rng, (pii_type,))
                self.truth.pii[rid] = planted
            elif roll < 0.18:
                fields, expected = self._outlier(kind, self._fresh(kind))
                self.truth.outliers[rid] = expected
            elif roll < 0.183:
                fields = self._invalid(kind, self._fresh(kind))
                self.truth.invalid.add(rid)
            else:
                fields = self._fresh(kind)
                if len(clean) < 5_000:
                    clean.append((kind, fields, rid))
                elif rng.random() < 0.1:
                    clean[rng.randrange(len(clean))] = (kind, fields, rid)
            yield Record(kind, {"id": rid, **fields}, self.uri, f"record {i + 1}")

    def write_jsonl(self, path: Path, n: int) -> None:
        """``records(n)`` as a JSONL file, one record per line (what a source would read)."""
        with path.open("w", encoding="utf-8") as f:
            for record in self.records(n):
                f.write(json.dumps({"kind": record.kind, **record.fields}) + "\n")

    def batches(self, n: int, batch_size: int = 1_000) -> Iterator[list[Record]]:
        batch: list[Record] = []
        for record in self.records(n):
            batch.append(record)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
