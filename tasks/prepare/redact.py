"""Redaction of personal data and secrets, replaced by typed placeholders.

| type          | placeholder      | what is found                                                        |
| ------------- | ---------------- | -------------------------------------------------------------------- |
| PRIVATE_KEY   | ``<PRIVATE_KEY>`` | PEM private key blocks (also cut off ones)                          |
| TOKEN         | ``<TOKEN>``       | JSON Web Tokens, the credential after ``Bearer``                    |
| API_KEY       | ``<API_KEY>``     | AWS access key ids, GitHub, Slack, Stripe, ``sk-`` and Google keys  |
| EMAIL         | ``<EMAIL>``       | e-mail addresses                                                    |
| IBAN          | ``<IBAN>``        | IBANs of the right length for their country, mod-97 checked         |
| CARD          | ``<CARD>``        | payment card numbers with a known issuer prefix, Luhn checked       |
| NATIONAL_ID   | ``<NATIONAL_ID>`` | US social security numbers, UK national insurance numbers           |
| PHONE         | ``<PHONE>``       | international (+CC ...) and North American formatted numbers       |
| IP            | ``<IP>``          | IPv4 and IPv6 addresses, except loopback, unspecified and netmasks  |

Types are applied in this order, so a key or token is gone before its digits could look like a
phone number, and a placeholder never matches a later pattern.

False positives are kept low by checksums (Luhn, mod-97), issuer prefixes, and by demanding the
separators real numbers are written with: a version (3.11.7), a date (2024-01-31), a time
(12:30:45), a hex literal, a slice (``a[1::2]``) or a long integer in the Python documentation is
not a phone number, an IP or a card. Measured on the full default corpus by
``benchmarks/bench_prepare.py``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from tasks.ingest import TEXT_FIELDS, Record

RedactionType = Literal["PRIVATE_KEY", "TOKEN", "API_KEY", "EMAIL", "IBAN", "CARD", "NATIONAL_ID", "PHONE", "IP"]
REDACTION_TYPES: tuple[RedactionType, ...] = (
    "PRIVATE_KEY",
    "TOKEN",
    "API_KEY",
    "EMAIL",
    "IBAN",
    "CARD",
    "NATIONAL_ID",
    "PHONE",
    "IP",
)
PLACEHOLDERS: dict[str, str] = {t: f"<{t}>" for t in REDACTION_TYPES}

# ---------------------------------------------------------------- checksums


def luhn_valid(digits: str) -> bool:
    """The Luhn check every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand_ok(digits: str) -> bool:
    """Whether the issuer prefix and the length fit a card scheme (Visa, Mastercard, Amex, Discover,
    JCB, Diners, UnionPay, Maestro)."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    if two == 62:
        return 16 <= n <= 19
    if two in (50, 56, 57, 58, 67):  # Maestro; its 12-15 digit numbers are too easy to hit by chance
        return 16 <= n <= 19
    return False


# Length of the IBAN of each country (ISO 13616 registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SC": 31,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
}


def iban_valid(iban: str) -> bool:
    """Country length and the ISO 7064 mod-97 check of an IBAN without spaces."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


# ---------------------------------------------------------------- patterns
#
# Speed: every pattern starts with a literal or a character class and checks the character
# before the match with a lookbehind placed *after* that first character. A pattern that starts
# with a lookbehind makes Python's regex engine try every position of the text; one that starts
# with a character class lets it skip ahead, about 3-4 times faster on prose. Checks that regexes
# express badly (number ranges, checksums) are done in Python on the few candidates.

_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"|(?:\s*(?:[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z-]+: [^\n]*))*)"
)  # cut off: base64 and header lines
_JWT = re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# The credential after "Bearer": long, and with a digit, so that prose ("bearer of bad news") stays.
_BEARER = re.compile(r"(?i:bearer)(?<!\w.{6})(\s+)((?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{16,}=*)")
_KEY_END = r"(?![A-Za-z0-9_-])"
# (substring that must be in the text, pattern): one pattern per key family, each with a literal start.
_API_KEYS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("A", re.compile(r"A(?<![A-Za-z0-9_-]A)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16}" + _KEY_END)),  # AWS
    ("gh", re.compile(r"gh(?<![A-Za-z0-9_-]gh)[pousr]_[A-Za-z0-9]{36,255}" + _KEY_END)),  # GitHub
    ("github_pat_", re.compile(r"github_pat_(?<![A-Za-z0-9_-]github_pat_)[A-Za-z0-9_]{22,255}" + _KEY_END)),
    ("xox", re.compile(r"xox(?<![A-Za-z0-9_-]xox)[abposr]-[A-Za-z0-9-]{10,}" + _KEY_END)),  # Slack
    ("k_", re.compile(r"[sr]k_(?<![A-Za-z0-9_-][sr]k_)(?:live|test)_[A-Za-z0-9]{16,}" + _KEY_END)),  # Stripe
    ("sk-", re.compile(r"sk-(?<![A-Za-z0-9_-]sk-)[A-Za-z0-9_-]{20,}" + _KEY_END)),  # OpenAI, Anthropic, ...
    ("AIza", re.compile(r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}" + _KEY_END)),  # Google
)
# An e-mail is found from its "@": the domain by regex, the local part by walking left.
_EMAIL_DOMAIN = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_IBAN = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
# Card numbers as they are written: 4-4-4-4(-x), Amex 4-6-5, or one run of digits; not glued to a
# longer number or a word.
_CARD = re.compile(
    r"\d(?<![\w.,-]\d)(?:\d{3}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?|\d{3}[ -]\d{6}[ -]\d{4,5}|\d{11,18})"
    r"(?![\w-]|[.,]\d)"
)
_SSN = re.compile(r"\d(?<![\w-]\d)\d\d-\d\d-\d{4}(?![\w-])")
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z] ?\d\d ?\d\d ?\d\d ?[A-D](?![A-Za-z0-9])")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_PHONE_INTL = re.compile(
    r"\+(?<![\w+)(.-]\+)[1-9]\d{0,2}"
    r"(?:(?:[ .-]?\(\d{1,4}\))?(?:[ .-]\d{1,8}){1,5}"  # +44 20 7946 0958, +1 (415) 555-0134, +49 30 1234567
    r"|\d{5,12})"  # +4930123456
    r"(?![\w-]|[.:]\d)"
)
_PHONE_PAREN = re.compile(r"\((?<![\w+)(.-]\()\d{3}\) ?\d{3}[ .-]\d{4}(?![\w-]|[.:]\d)")  # (415) 555-0134
_PHONE_NANP = re.compile(r"\d(?<![\w+)(.-]\d)\d\d([.-])\d{3}\1\d{4}(?![\w-]|[.:]\d)")  # 415-555-0134
_IPV4 = re.compile(r"\d(?<![\w.:-]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w-]|\.\d)")
_IPV6 = re.compile(
    r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])[0-9A-Fa-f]{0,3}:(?:[0-9A-Fa-f]{0,4}:){1,6}"
    r"(?:[0-9A-Fa-f]{1,4}|:|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:]|\.\d)"
)

Substitution = Callable[[str, Counter[str]], str]


def _simple(kind: str, pattern: re.Pattern[str], keep: Callable[[str], bool] | None = None) -> Substitution:
    """Replace every match (that ``keep`` accepts) by the type's placeholder."""
    placeholder = PLACEHOLDERS[kind]

    def substitute(text: str, count: Counter[str]) -> str:
        def replace(m: re.Match[str]) -> str:
            if keep is not None and not keep(m.group()):
                return m.group()
            count[kind] += 1
            return placeholder

        return pattern.sub(replace, text)

    return substitute


_sub_jwt = _simple("TOKEN", _JWT)
_API_KEY_SUBSTITUTIONS = tuple((hint, _simple("API_KEY", pattern)) for hint, pattern in _API_KEYS)


def _sub_token(text: str, count: Counter[str]) -> str:
    if "eyJ" in text:
        text = _sub_jwt(text, count)
    if "earer" not in text and "EARER" not in text:
        return text

    def bearer(m: re.Match[str]) -> str:
        count["TOKEN"] += 1
        return f"{text[m.start() : m.start(1)]}{m.group(1)}<TOKEN>"

    return _BEARER.sub(bearer, text)


def _sub_api_key(text: str, count: Counter[str]) -> str:
    for hint, substitute in _API_KEY_SUBSTITUTIONS:
        if hint in text:
            text = substitute(text, count)
    return text


def _sub_email(text: str, count: Counter[str]) -> str:
    out: list[str] = []
    last = 0
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        start = at
        while start > last and at - start < 64 and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        while start < at and not text[start].isalnum():  # a local part starts with a letter or digit
            start += 1
        if start == at or (start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._%+-")):
            continue  # no local part, or it runs on past 64 characters or into a non-ASCII word
        out.append(text[last:start])
        out.append("<EMAIL>")
        count["EMAIL"] += 1
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


Span = tuple[int, int]


def _scan(
    text: str, pattern: re.Pattern[str], judge: Callable[[re.Match[str]], Span | None], kind: str, count: Counter[str]
) -> str:
    """Replace, for every candidate match, the span ``judge`` accepts (maybe only part of the match).

    Unlike ``re.sub``, scanning resumes right after the replaced span, or one character after a
    rejected candidate, so a number that a greedy candidate ran into is still examined on its own."""
    out: list[str] = []
    last = pos = 0
    while (m := pattern.search(text, pos)) is not None:
        span = judge(m)
        if span is None:
            pos = m.start() + 1
            continue
        start, end = span
        out += [text[last:start], PLACEHOLDERS[kind]]
        count[kind] += 1
        last = pos = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


_SEPARATOR = re.compile(r"[ .-]")


def _group_spans(m: re.Match[str]) -> list[Span]:
    """(start, end) in the text of each run of non-separator characters of the match."""
    spans, start = [], m.start()
    for sep in _SEPARATOR.finditer(m.group()):
        spans.append((start, m.start() + sep.start()))
        start = m.start() + sep.end()
    spans.append((start, m.end()))
    return spans


def _card(m: re.Match[str]) -> Span | None:
    """The longest run of whole digit groups that is a valid card number."""
    groups = _group_spans(m)
    text = m.string
    for size in range(len(groups), 0, -1):
        for first in range(0, len(groups) - size + 1):
            chosen = groups[first : first + size]
            digits = "".join(text[a:b] for a, b in chosen)
            if 12 <= len(digits) <= 19 and card_brand_ok(digits) and luhn_valid(digits):
                return chosen[0][0], chosen[-1][1]
    return None


def _iban(m: re.Match[str]) -> Span | None:
    """The IBAN at the start of the match: as many characters as its country's IBAN has."""
    candidate = m.group()
    length = IBAN_LENGTHS.get(candidate[:2])
    if length is None:
        return None
    kept = 0
    for end, ch in enumerate(candidate):  # noqa: B007 - the position where the loop stops is used below
        if ch != " ":
            kept += 1
        if kept == length:
            break
    else:
        return None
    rest = candidate[end + 1 :]
    if rest and not rest.startswith(" "):  # the IBAN must end where a word ends
        return None
    return (m.start(), m.start() + end + 1) if iban_valid(candidate[: end + 1].replace(" ", "")) else None


def _sub_card(text: str, count: Counter[str]) -> str:
    return _scan(text, _CARD, _card, "CARD", count)


def _sub_iban(text: str, count: Counter[str]) -> str:
    return _scan(text, _IBAN, _iban, "IBAN", count)


def _ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_sub_ssn = _simple("NATIONAL_ID", _SSN, _ssn_ok)
_sub_nino = _simple("NATIONAL_ID", _NINO, lambda m: m[:2] not in _NINO_BAD_PREFIXES)


def _sub_national_id(text: str, count: Counter[str]) -> str:
    if "-" in text:
        text = _sub_ssn(text, count)
    return _sub_nino(text, count)


def _phone_digits_ok(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 8 <= digits <= 15


def _phone_intl(m: re.Match[str]) -> Span | None:
    # The groups may run on into a following number ("+44 20 7946 0958 12345678"): drop trailing
    # groups until the digits fit a phone number (at most 15, E.164).
    groups = _group_spans(m)
    text = m.string
    while len(groups) > 1 and sum(c.isdigit() for c in text[groups[0][0] : groups[-1][1]]) > 15:
        groups.pop()
    span = (groups[0][0], groups[-1][1])
    return span if _phone_digits_ok(text[span[0] : span[1]]) else None


def _sub_phone_intl(text: str, count: Counter[str]) -> str:
    return _scan(text, _PHONE_INTL, _phone_intl, "PHONE", count)


_sub_phone_paren = _simple("PHONE", _PHONE_PAREN)
_sub_phone_nanp = _simple("PHONE", _PHONE_NANP)


def _sub_phone(text: str, count: Counter[str]) -> str:
    if "+" in text:
        text = _sub_phone_intl(text, count)
    if "(" in text:
        text = _sub_phone_paren(text, count)
    return _sub_phone_nanp(text, count)


def _ipv4_personal(text: str) -> bool:
    octets = text.split(".")
    if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
        return False  # not an address: 300.1.2.3, or zero-padded like a version 1.02.03.04
    address = ipaddress.IPv4Address(text)
    if address.is_loopback or address.is_unspecified or text == "255.255.255.255":
        return False
    inverted = ~int(address) & 0xFFFFFFFF
    is_netmask = octets[0] == "255" and (inverted + 1) & inverted == 0
    return not is_netmask


def _ipv6_personal(text: str) -> bool:
    groups = [g for g in text.split(":") if g]
    # A slice (a[1::2], x[ab::cd]) parses as IPv6 too: ask for 3+ groups, or 2 with 5+ hex digits.
    if len(groups) < 3 and sum(len(g) for g in groups) < 5:
        return False
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


_sub_ipv4 = _simple("IP", _IPV4, _ipv4_personal)
_sub_ipv6 = _simple("IP", _IPV6, _ipv6_personal)


def _sub_ip(text: str, count: Counter[str]) -> str:
    if "." in text:
        text = _sub_ipv4(text, count)
    if "::" in text or text.count(":") >= 7:
        text = _sub_ipv6(text, count)
    return text


# Numbers as written in text: digits with the separators phone, card, IBAN and IP numbers use.
_NUMBER_RUN = re.compile(r"\d[\d .()+:/-]*")
_ASCII_DIGITS = b"0123456789"


@dataclass(frozen=True, slots=True)
class _Numbers:
    """The most digits, and the most dots, in one run of number characters of a text."""

    digits: int
    dots: int


_NO_NUMBERS = _Numbers(0, 0)


def _numbers(text: str) -> _Numbers:
    if text.isascii():
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_DIGITS)) == len(data):  # no digit at all: the usual prose
            return _NO_NUMBERS
    digits = dots = 0
    for run in _NUMBER_RUN.findall(text):
        digits = max(digits, sum(c.isdigit() for c in run))
        dots = max(dots, run.count("."))
    return _Numbers(digits, dots)


# (type, test on the text and its numbers that must pass before any regex runs, substitution), in
# application order. The tests skip the number patterns for texts whose numbers are too short to
# be the thing looked for (a year, a version, a count): most texts, scanned once instead of five
# times. Minimum digits: card 12, phone 8, US SSN 9 and UK NINO 6, IBAN (its longest run) 6.
_STEPS: tuple[tuple[str, Callable[[str, _Numbers], bool], Substitution], ...] = (
    ("PRIVATE_KEY", lambda t, n: "PRIVATE KEY-----" in t, _simple("PRIVATE_KEY", _PEM)),
    ("TOKEN", lambda t, n: "eyJ" in t or "earer" in t or "EARER" in t, _sub_token),
    ("API_KEY", lambda t, n: True, _sub_api_key),  # each key family checks its own hint
    ("EMAIL", lambda t, n: "@" in t, _sub_email),
    ("IBAN", lambda t, n: n.digits >= 6, _sub_iban),
    ("CARD", lambda t, n: n.digits >= 12, _sub_card),
    ("NATIONAL_ID", lambda t, n: n.digits >= 6, _sub_national_id),
    ("PHONE", lambda t, n: n.digits >= 8, _sub_phone),
    ("IP", lambda t, n: n.dots >= 3 or "::" in t or t.count(":") >= 7, _sub_ip),
)


def redact_text(text: str, types: Iterable[str] = REDACTION_TYPES) -> tuple[str, Counter[str]]:
    """The text with every finding of ``types`` replaced by its placeholder, and counts by type."""
    count: Counter[str] = Counter()
    return _redact_into(text, frozenset(types), count), count


def _redact_into(text: str, wanted: frozenset[str], count: Counter[str]) -> str:
    numbers = _numbers(text)  # placeholders only ever remove digits, so this stays a safe upper bound
    for kind, might_match, substitute in _STEPS:
        if kind in wanted and might_match(text, numbers):
            text = substitute(text, count)
    return text


def _redact_json(value: object, wanted: set[str], count: Counter[str]) -> object:
    if isinstance(value, str):
        text, found = redact_text(value, wanted)
        count.update(found)
        return text
    if isinstance(value, list):
        return [_redact_json(v, wanted, count) for v in value]
    if isinstance(value, dict):
        return {k: _redact_json(v, wanted, count) for k, v in value.items()}
    return value


def redact_meta(meta: str, types: Iterable[str] = REDACTION_TYPES) -> tuple[str, Counter[str]]:
    """A ``meta`` JSON string with every string value redacted (keys are left alone)."""
    count: Counter[str] = Counter()
    if not meta or meta == "{}":
        return meta, count
    redacted = _redact_json(json.loads(meta), set(types), count)
    return (json.dumps(redacted, sort_keys=True, ensure_ascii=False) if count else meta), count


def redact_batch(
    records: Iterable[Record],
    types: Iterable[str] = REDACTION_TYPES,
) -> tuple[list[Record], Counter[str], int]:
    """Records with text fields and ``meta`` redacted; counts by type; how many records changed."""
    wanted = frozenset(types)
    total: Counter[str] = Counter()
    out: list[Record] = []
    changed = 0
    for record in records:
        fields = dict(record.fields)
        before = total.total()
        for name in TEXT_FIELDS[record.kind]:
            fields[name] = _redact_into(fields[name], wanted, total)
        if fields["meta"] not in ("", "{}"):
            fields["meta"], found = redact_meta(fields["meta"], wanted)
            total.update(found)
        changed += total.total() != before
        out.append(Record(record.kind, fields, record.uri, record.location))
    return out, total, changed
