"""Redaction of personal data and secrets, replaced by typed placeholders.

| type          | placeholder       | what is found                                                          |
| ------------- | ----------------- | ---------------------------------------------------------------------- |
| PRIVATE_KEY   | ``<PRIVATE_KEY>`` | PEM and PGP private key blocks (also cut off ones)                     |
| TOKEN         | ``<TOKEN>``       | JSON Web Tokens, the credential after ``Bearer`` and ``Basic``          |
| API_KEY       | ``<API_KEY>``     | provider keys by their prefix (AWS, GitHub, GitLab, Hugging Face, npm,  |
|               |                   | PyPI, Slack, Stripe, SendGrid, OpenAI-style ``sk-``, Google), Slack and |
|               |                   | Discord webhook URLs, AWS secret access keys next to "aws"/"secret"    |
| CREDENTIAL    | ``<CREDENTIAL>``  | the password of a URL (``postgres://app:S3cret@db``) or ``curl -u``,    |
|               |                   | a secret-looking URL user (Sentry DSN), and the value assigned to a    |
|               |                   | secret-named key (``DB_PASSWORD=``, ``api_key:``, ``"token": "..."``)  |
| EMAIL         | ``<EMAIL>``       | e-mail addresses, Unicode and IDN ones too                             |
| IBAN          | ``<IBAN>``        | IBANs of the right length for their country, mod-97 checked, any case  |
| CARD          | ``<CARD>``        | payment card numbers with a known issuer prefix, Luhn checked          |
| NATIONAL_ID   | ``<NATIONAL_ID>`` | US social security numbers, UK national insurance numbers              |
| PHONE         | ``<PHONE>``       | international (+CC, 00CC), North American and trunk-0 national numbers |
| IP            | ``<IP>``          | IPv4 and IPv6 addresses, except loopback, unspecified and netmasks     |

Types are applied in this order, so a key or token is gone before its digits could look like a
phone number, and a placeholder never matches a later pattern.

False positives are kept low by checksums (Luhn, mod-97), issuer prefixes, by demanding the
separators real numbers are written with, and by looking at the words around a match: a version
(3.11.7, "firmware 4.2.1.0"), a section number ("§2.4.1.7"), a date, a time, a hex literal, a slice
(``a[1::2]``), an order number ("Order #123-456-7890"), a git remote (``git@github.com:o/r.git``), a
template (``password: ${DB_PASSWORD}``, ``Bearer <token>``) or code (``password = getpass()``) is left
alone. Measured on a hand-written set by ``benchmarks/bench_redact.py`` (``tests/data/redaction``)
and on the full default corpus by ``benchmarks/bench_prepare.py``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from tasks.ingest import ID_MAX_CHARS, Kind, Record, content_id

RedactionType = Literal[
    "PRIVATE_KEY", "TOKEN", "API_KEY", "CREDENTIAL", "EMAIL", "IBAN", "CARD", "NATIONAL_ID", "PHONE", "IP"
]
REDACTION_TYPES: tuple[RedactionType, ...] = (
    "PRIVATE_KEY",
    "TOKEN",
    "API_KEY",
    "CREDENTIAL",
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
# express badly (number ranges, checksums, the words around a match) are done in Python on the
# few candidates.

_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"|(?:\s*(?:[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z-]+: [^\n]*))+)"
)  # cut off: base64 and header lines, at least one (a header alone, as in prose, is left)
_JWT = re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# The credential after "Bearer" (RFC 6750 token characters), judged by ``_bearer_ok``.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr](?<!\w.{6})([ \t]+)([A-Za-z0-9._~+/_-]{16,}=*)(?![A-Za-z0-9._~+/=_-])")
# "Basic" and base64 that decodes to "user:password".
_BASIC = re.compile(r"[Bb][Aa][Ss][Ii][Cc](?<!\w.{5})([ \t]+)([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])")
_KEY_END = r"(?![A-Za-z0-9_-])"


def _family(prefix: str, body: str) -> re.Pattern[str]:
    """A key that starts with ``prefix`` (not glued to a longer word) and goes on with ``body``."""
    literal = re.escape(prefix)
    return re.compile(literal + f"(?<![A-Za-z0-9_-]{literal})" + body + _KEY_END)


# (substring that must be in the text, pattern): one pattern per key family, each with a literal start.
_API_KEYS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("A", re.compile(r"A(?<![A-Za-z0-9_-]A)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16}" + _KEY_END)),  # AWS
    ("gh", re.compile(r"gh(?<![A-Za-z0-9_-]gh)[pousr]_[A-Za-z0-9]{36,255}" + _KEY_END)),  # GitHub
    ("github_pat_", _family("github_pat_", r"[A-Za-z0-9_]{22,255}")),
    ("gl", re.compile(r"gl(?<![A-Za-z0-9_-]gl)(?:pat|dt|rt|ptt|cbt|soat)-[A-Za-z0-9_-]{20,}" + _KEY_END)),  # GitLab
    ("hf_", _family("hf_", r"[A-Za-z0-9]{30,40}")),  # Hugging Face
    ("npm_", _family("npm_", r"[A-Za-z0-9]{32,40}")),  # npm access tokens (36 characters)
    ("pypi-", _family("pypi-", r"AgE[A-Za-z0-9_-]{40,}")),  # PyPI upload tokens (macaroons)
    ("SG.", _family("SG.", r"[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}")),  # SendGrid
    ("xox", re.compile(r"xox(?<![A-Za-z0-9_-]xox)[abposr]-[A-Za-z0-9-]{10,}" + _KEY_END)),  # Slack
    ("xapp-", _family("xapp-", r"\d-[A-Za-z0-9-]{20,}")),  # Slack app-level tokens
    ("hooks.slack.com", re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}")),
    ("discord", re.compile(r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{5,}/[A-Za-z0-9_-]{20,}")),
    ("k_", re.compile(r"[sr]k_(?<![A-Za-z0-9_-][sr]k_)(?:live|test)_[A-Za-z0-9]{16,}" + _KEY_END)),  # Stripe
    ("whsec_", _family("whsec_", r"[A-Za-z0-9]{24,}")),  # Stripe webhook signing secrets
    ("sk-", re.compile(r"sk-(?<![A-Za-z0-9_-]sk-)[A-Za-z0-9_-]{20,}" + _KEY_END)),  # OpenAI, Anthropic, ...
    ("AIza", re.compile(r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}" + _KEY_END)),  # Google
)
# An AWS secret access key: 40 base64 characters, no prefix; only taken with "aws" or "secret"
# shortly before it on the same line, and with upper case, lower case and digits (a SHA-1 is not).
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+](?<![A-Za-z0-9/+][A-Za-z0-9/+])[A-Za-z0-9/+]{39}(?![A-Za-z0-9/+=])")
_AWS_SECRET_CONTEXT = re.compile(r"[Aa][Ww][Ss]|[Ss][Ee][Cc][Rr][Ee][Tt]")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=")

# Credentials in URLs: the password of ``scheme://user:password@``, and a user part that is itself
# a key (``https://<32 hex>@o1.ingest.sentry.io``).
_URL_PASSWORD = re.compile(r"://[^\s:/@]*:([^\s/@]+)@")
_URL_USER_KEY = re.compile(r"://([A-Za-z0-9_-]{16,})@")
_CURL_USER = re.compile(r"-(?<![\w-]-)(?:u|-user)[ =]+[^\s:'\"]+:([^\s'\"]+)")
# A secret-named key, found by its last word: the key itself is the identifier around it.
# The words: pass(word|wd|phrase|code), pwd, secret, token, credential(s), and key after api, access,
# secret, ... Found with str.find in an ASCII-lower-cased copy (same length, same positions): a
# regex alternation of common first letters tries almost every position of prose.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "credential", "key")
_PASS_FORMS = ("password", "passwd", "passphrase", "passcode", "pass")
_KEY_PREFIX = re.compile(r"(?:api|access|secret|private|account|encryption|signing|master|auth|client)[_-]?\Z")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_GLUED_OK = frozenset({"password", "passwd", "passphrase", "passcode", "secret", "token"})
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# After the key: a closing quote or bracket, the operator, and the value (quoted, or a run).
_ASSIGNED = re.compile(r"[\"']?\]?[ \t]*(?::=|=>|=|:(?!//))[ \t]*(?:\"([^\"\n]*)\"|'([^'\n]*)'|([^\s\"'`]+))")
_FLAG_VALUE = re.compile(r"[ \t]+([^\s\"'`-][^\s\"'`]*)")  # --password VALUE
_SAID = re.compile(r"[ \t]+is[ \t]+([^\s\"'`]+)")  # "the wifi password is Blue-Heron-77"
# Values that stand for a secret or a type rather than being one.
_NOT_A_SECRET = frozenset(
    {
        *("null", "none", "nil", "true", "false", "yes", "no", "on", "off", "required", "optional", "undefined"),
        *("str", "string", "bytes", "int", "bool", "secretstr", "any", "empty"),
        *("password", "passwd", "secret", "token", "redacted", "hidden", "masked", "example", "placeholder"),
        *("xxx", "dummy", "test"),
    }
)
_PLACEHOLDER_VALUE = re.compile(r"(?i)^(?:your|my|the|some|insert|enter)[_-]|[_-]here$|^[*x•.#_-]+$")
_CODE_VALUE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # settings.KEY, API_KEY

# An e-mail is found from its "@": the domain by regex (labels in any script, or punycode), the
# local part by walking left.
_EMAIL_DOMAIN = re.compile(r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,24}|xn--[a-z0-9-]{2,59})(?![\w-])")
_EMAIL_LOCAL_PUNCT = frozenset("._%+-")
_IBAN = re.compile(r"[A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]\d{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
# Card numbers as they are written: 4-4-4-4(-x), Amex 4-6-5, with one kind of separator (space,
# dash, dot or slash), or one run of digits; not glued to a longer number or a word.
_CARD = re.compile(
    r"\d(?<![\w./-]\d)(?:\d{3}([ ./-])\d{4}(?:\1\d{4}){1,2}(?:\1\d{1,4})?(?![\w/-]|[./]\d)"
    r"|\d{3}([ ./-])\d{6}\2\d{4,5}(?![\w/-]|[./]\d)"
    r"|\d{11,18}(?![\w/-]|[./]\d))"  # a comma may follow: the next field of a CSV row
)
_SSN = re.compile(r"\d(?<![\w./-]\d)\d\d([ -])\d\d\1\d{4}(?![\w-]|[.,/]\d)")
# Nine digits in a row are an SSN only where the text says so shortly before.
_SSN_BARE = re.compile(r"\d(?<![\w./-]\d)\d{8}(?![\w-]|[.,/]\d)")
_SSN_CONTEXT = re.compile(r"(?i)(?<![a-z])(?:ssn|ss#|social security)(?![a-z])")
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z] ?\d\d ?\d\d ?\d\d ?[A-D](?![A-Za-z0-9])")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_PHONE_INTL = re.compile(
    r"\+(?<![\w+)(.#-]\+)[1-9]\d{0,2}"
    r"(?:(?:[ .-]?\(\d{1,4}\)[ .-]?|[ .-])\d{1,8}(?:[ ./-]\d{1,8}){0,5}"  # +44 20 7946 0958, +49 (0)30 901820
    r"|\d{5,12})"  # +4930123456
    r"(?![\w-]|[.:]\d)"
)
# (415) 555-0134, (02) 9374 4000, (020) 7946 0123, (800) 555-35-35; a trunk "1 " or "8 " before
# it is taken too.
_PHONE_PAREN = re.compile(
    r"\((?<![\w+)(.#-]\()"
    r"(?:\d{3}\) ?\d{3}(?:[ .-]\d{4}|-\d\d-\d\d)|0\d{1,4}\) ?\d{2,4}(?:[ .-]\d{2,4}){1,3})"
    r"(?![\w-]|[.:]\d)"
)
# 415-555-0134, 415.555.0134, 555 123 4567; 1-800-555-0199. Not glued to a number before it ("3704
# 0044 0532 ..." is an IBAN), nor followed by another group with the same separator.
_PHONE_NANP = re.compile(r"\d(?<![\w+)(.#/-]\d)(?<!\d[ .-]\d)\d\d([ .-])\d{3}\1\d{4}(?![\w-]|[.:]\d|\1\d)")
_PHONE_NANP1 = re.compile(r"1(?<![\w+)(.#/-]1)([ .-])\d{3}\1\d{3}\1\d{4}(?![\w-]|[.:]\d|\1\d)")
# National numbers with a trunk 0 (020 7946 0958, 06 12 34 56 78, 03-1234-5678) or an 00 prefix.
_PHONE_TRUNK = re.compile(
    r"0(?<![\w+)(.#/-]0)(?<!\d[ .-]0)\d{1,4}([ -])\d{2,8}(?:\1\d{2,8}){0,3}(?![\w-]|[.:/]\d|\1\d)"
)
# Words just before a number that make it an order, ticket or part number, not a phone number.
_NOT_PHONE_CONTEXT = re.compile(
    r"(?i)(?:#|(?<![a-z])(?:order|invoice|ticket|case|ref|reference|tracking|part|po|sku|serial|account|acct|id)"
    r"\W{0,3}(?:no\.?|nr\.?|num(?:ber)?|#)?)\W{0,2}$"
)
_IPV4 = re.compile(r"\d(?<![\w.:-]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w-]|\.\d)")
# Words shortly before a dotted quad that make it a version or a section number.
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:(?<![a-z])(?:version|versions|ver|release|firmware|bootloader|kernel|section|sections|sec|"
    r"chapter|clause|table|figure|fig|article|art|paragraph|para|page|oid|mib|through)"
    r"(?![a-z])[^\n]{0,12}|[=<>~!]=|[§^])\s*$"
)
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


def _line_before(text: str, at: int, width: int) -> str:
    """Up to ``width`` characters before ``at``, not reaching back past a line break."""
    start = max(0, at - width)
    newline = text.rfind("\n", start, at)
    return text[newline + 1 if newline >= 0 else start : at]


# ---------------------------------------------------------------- tokens and keys

_sub_jwt = _simple("TOKEN", _JWT)


def _bearer_ok(token: str) -> bool:
    """A credential, not a word, a template or an environment variable's name."""
    if "_" in token and token.upper() == token and not any(c.isdigit() for c in token):
        return False  # YOUR_ACCESS_TOKEN, API_TOKEN
    has_digit = any(c.isdigit() for c in token)
    mixed = token.lower() != token and token.upper() != token
    return has_digit or mixed or (len(token) >= 24 and any(c in "._~+/-" for c in token))


def _basic_ok(credential: str) -> bool:
    """Base64 of ``user:password`` in printable text."""
    try:
        decoded = base64.b64decode(credential + "=" * (-len(credential) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


# (hints, pattern, check of the credential): the scheme word is kept, the credential replaced.
_SCHEMES: tuple[tuple[tuple[str, str], re.Pattern[str], Callable[[str], bool]], ...] = (
    (("earer", "EARER"), _BEARER, _bearer_ok),
    (("asic", "ASIC"), _BASIC, _basic_ok),
)


def _sub_token(text: str, count: Counter[str]) -> str:
    if "eyJ" in text:
        text = _sub_jwt(text, count)
    for hints, pattern, ok in _SCHEMES:
        if hints[0] not in text and hints[1] not in text:
            continue

        def replace(m: re.Match[str], ok: Callable[[str], bool] = ok) -> str:
            if not ok(m.group(2)):
                return m.group()
            count["TOKEN"] += 1
            return m.group()[: m.start(2) - m.start()] + "<TOKEN>"

        text = pattern.sub(replace, text)
    return text


_API_KEY_SUBSTITUTIONS = tuple((hint, _simple("API_KEY", pattern)) for hint, pattern in _API_KEYS)


def _aws_secret(m: re.Match[str]) -> Span | None:
    key = m.group()
    if not (any(c.isupper() for c in key) and any(c.islower() for c in key) and any(c.isdigit() for c in key)):
        return None
    if _AWS_SECRET_CONTEXT.search(_line_before(m.string, m.start(), 80)) is None:
        return None
    return m.span()


def _sub_api_key(text: str, count: Counter[str]) -> str:
    for hint, substitute in _API_KEY_SUBSTITUTIONS:
        if hint in text:
            text = substitute(text, count)
    if "ecret" in text or "ECRET" in text or "aws" in text or "AWS" in text:
        text = _sub_aws_secret(text, count)
    return text


def _sub_aws_secret(text: str, count: Counter[str]) -> str:
    """AWS secret access keys, looked for only on the rest of each line that names "aws" or "secret"."""
    spans: list[Span] = []
    searched = 0
    for context in _AWS_SECRET_CONTEXT.finditer(text):
        line_end = text.find("\n", context.end())
        line_end = len(text) if line_end < 0 else line_end
        start = max(context.end(), searched)
        for m in _AWS_SECRET.finditer(text, start, line_end) if start < line_end else ():
            if m.end() < line_end and text[m.end()] in _BASE64_CHARS:
                continue  # the line was cut by endpos inside a longer run
            if _aws_secret(m) is not None:
                spans.append(m.span())
        searched = max(searched, line_end)
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        out += [text[last:start], "<API_KEY>"]
        count["API_KEY"] += 1
        last = end
    out.append(text[last:])
    return "".join(out)


# ---------------------------------------------------------------- credentials


def _secret_value_ok(value: str) -> bool:
    """Whether an assigned value is a secret, not a template, a mask, a type or a word for one."""
    if len(value) < 3 or "<" in value or ">" in value or value[0] in "$%{[(@":
        return False
    return value.lower() not in _NOT_A_SECRET and _PLACEHOLDER_VALUE.search(value) is None


def _is_word(value: str) -> bool:
    """Only lower-case letters: a secret in a config line, or the next word of a sentence."""
    return value.isalpha() and value.islower()


def _secret_words(text: str) -> list[Span]:
    """Where the secret words of ``text`` are, in order."""
    lower = text.lower()
    if len(lower) != len(text):  # a few characters grow when lower-cased ("İ"): keep the positions
        lower = text.translate(_ASCII_LOWER)
    found: list[Span] = []
    for word in _SECRET_WORDS:
        i = lower.find(word)
        while i >= 0:
            start, end = i, i + len(word)
            if word == "pass":
                end = i + next(len(form) for form in _PASS_FORMS if lower.startswith(form, i))
            elif word == "credential":
                end += lower.startswith("s", end)
            elif word == "key":
                prefix = _KEY_PREFIX.search(lower, max(0, i - 12), i)
                start = prefix.start() if prefix else -1
            if start >= 0:
                found.append((start, end))
            i = lower.find(word, i + 1)
    found.sort()
    return found


def _key_at(text: str, start: int, end: int) -> int | None:
    """Where the secret-named key whose last word is ``text[start:end]`` starts, or None when that
    word does not end the key (``password_min_length``, ``tokenizer``) or is glued onto another
    word (``bypass``)."""
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        return None
    word = text[start:end].lower()
    if start > 0 and text[start - 1].isalnum() and word not in _GLUED_OK and not word.endswith("key"):
        return None
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    return start


def _assigned_secret(text: str, word_start: int, end: int) -> Span | None:
    """The span of the value a secret-named key is given in ``text`` after its last word, which
    ends at ``end``."""
    key_start = _key_at(text, word_start, end)
    if key_start is None:
        return None
    key = text[key_start:end]
    a = _ASSIGNED.match(text, end)
    if a is not None:
        group = 1 if a.group(1) is not None else 2 if a.group(2) is not None else 3
        start, stop = a.span(group)
        if group == 3:
            query = key_start > 0 and text[key_start - 1] in "?&"
            value = a.group(3)
            cut = len(value)
            for i, ch in enumerate(value):
                if ch in ";,)]}" or (query and ch in "&#"):
                    cut = i
                    break
            stop = start + cut
            value = text[start:stop]
            called = "(" in value or "[" in value or (stop < len(text) and text[stop] in "([")
            if called or _CODE_VALUE.fullmatch(value):
                return None  # code: password = getpass.getpass(), token = os.environ[...], settings.KEY
            glued = text[end:start] == "="  # KEY=value with no space: an assignment, never prose
            if value.isalpha() and not glued:  # a bare word ends the line, or prose ("- password: The password")
                line_end = text.find("\n", stop)
                rest = text[stop : len(text) if line_end < 0 else line_end].strip()
                line_start = text.rfind("\n", 0, key_start) + 1
                head = text[line_start:key_start].strip(" \t-").removeprefix("export").strip()
                if rest or (head and _is_word(value)):
                    return None
        else:
            value = text[start:stop]
        return (start, stop) if _secret_value_ok(value) else None
    if key.startswith("--"):
        f = _FLAG_VALUE.match(text, end)
        if f is not None and _secret_value_ok(f.group(1)) and not _is_word(f.group(1)):
            return f.span(1)
    if text[word_start:end].lower().startswith("pass"):
        s = _SAID.match(text, end)
        if s is not None:
            value = s.group(1).rstrip(".,;:)")
            said_ok = any(c.isdigit() for c in value) or not value.isalpha() or value.lower() != value
            if said_ok and _secret_value_ok(value) and value.lower() != value.upper():
                return s.start(1), s.start(1) + len(value)
    return None


def _sub_credential(text: str, count: Counter[str]) -> str:
    spans: list[Span] = []
    if "://" in text and "@" in text:
        for m in _URL_PASSWORD.finditer(text):
            if _secret_value_ok(m.group(1)):
                spans.append(m.span(1))
        for m in _URL_USER_KEY.finditer(text):
            user = m.group(1)
            if any(c.isdigit() for c in user) and any(c.isalpha() for c in user):
                spans.append(m.span(1))
    if "-u" in text:
        for m in _CURL_USER.finditer(text):
            if _secret_value_ok(m.group(1)):
                spans.append(m.span(1))
    for word_start, word_end in _secret_words(text):
        span = _assigned_secret(text, word_start, word_end)
        if span is not None:
            spans.append(span)
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            continue  # inside a value already replaced
        out += [text[last:start], "<CREDENTIAL>"]
        count["CREDENTIAL"] += 1
        last = end
    out.append(text[last:])
    return "".join(out)


def is_secret_key(key: str) -> bool:
    """Whether a field name says its value is a secret (``password``, ``DB_PASSWORD``, ``apiKey``)."""
    return any(end == len(key) and _key_at(key, start, end) is not None for start, end in _secret_words(key))


# ---------------------------------------------------------------- e-mail


def _sub_email(text: str, count: Counter[str]) -> str:
    out: list[str] = []
    last = 0
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        end = m.end()
        if end < len(text) - 1 and text[end] == ":" and not text[end + 1].isspace():
            continue  # user@host:path, as in git@github.com:owner/repo.git or an scp target
        start = at
        while start > last and at - start < 64 and (text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL_PUNCT):
            start -= 1
        while start < at and not text[start].isalnum():  # a local part starts with a letter or digit
            start += 1
        if start == at or (start > 0 and (text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL_PUNCT)):
            continue  # no local part, or it runs on past 64 characters
        if text.endswith("://", 0, start):
            continue  # the user of a URL (ssh://git@host/...), not an address
        out.append(text[last:start])
        out.append("<EMAIL>")
        count["EMAIL"] += 1
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# ---------------------------------------------------------------- numbers

_SEPARATOR = re.compile(r"[ ./-]")


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
    candidate = m.group().upper()
    length = IBAN_LENGTHS.get(candidate[:2])
    if length is None:
        return None
    kept = 0
    for end, ch in enumerate(candidate):  # noqa: B007 - the position where the loop stops is used below
        if ch not in " -":
            kept += 1
        if kept == length:
            break
    else:
        return None
    rest = candidate[end + 1 :]
    if rest and rest[0] not in " -":  # the IBAN must end where a word ends
        return None
    compact = candidate[: end + 1].replace(" ", "").replace("-", "")
    return (m.start(), m.start() + end + 1) if iban_valid(compact) else None


def _sub_card(text: str, count: Counter[str]) -> str:
    return _scan(text, _CARD, _card, "CARD", count)


def _sub_iban(text: str, count: Counter[str]) -> str:
    return _scan(text, _IBAN, _iban, "IBAN", count)


def _ssn_ok(text: str) -> bool:
    digits = "".join(c for c in text if c.isdigit())
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ssn_bare(m: re.Match[str]) -> Span | None:
    if not _ssn_ok(m.group()) or _SSN_CONTEXT.search(m.string, max(0, m.start() - 120), m.start()) is None:
        return None
    return m.span()


_sub_ssn = _simple("NATIONAL_ID", _SSN, _ssn_ok)
_sub_nino = _simple("NATIONAL_ID", _NINO, lambda m: m[:2] not in _NINO_BAD_PREFIXES)


def _sub_national_id(text: str, count: Counter[str]) -> str:
    text = _sub_ssn(text, count)
    if _SSN_CONTEXT.search(text):
        text = _scan(text, _SSN_BARE, _ssn_bare, "NATIONAL_ID", count)
    return _sub_nino(text, count)


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _not_a_phone(m: re.Match[str]) -> bool:
    """An order, ticket or invoice number written like a phone number."""
    return _NOT_PHONE_CONTEXT.search(_line_before(m.string, m.start(), 24)) is not None


def _phone_intl(m: re.Match[str]) -> Span | None:
    # The groups may run on into a following number ("+44 20 7946 0958 12345678"): drop trailing
    # groups until the digits fit a phone number (at most 15, E.164).
    groups = _group_spans(m)
    text = m.string
    while len(groups) > 1 and _digits(text[groups[0][0] : groups[-1][1]]) > 15:
        groups.pop()
    span = (groups[0][0], groups[-1][1])
    return span if 8 <= _digits(text[span[0] : span[1]]) <= 15 else None


def _phone_paren(m: re.Match[str]) -> Span | None:
    if not 9 <= _digits(m.group()) <= 12 or _not_a_phone(m):
        return None
    start, text = m.start(), m.string
    # a trunk or country prefix before the parenthesis: "1 (888) 555-0123", "8 (800) 555-35-35"
    if text.endswith((" 1 ", " 8 ", "\n1 ", "\n8 "), 0, start) or (start == 2 and text[:2] in ("1 ", "8 ")):
        start -= 2
    return start, m.end()


def _phone_nanp(m: re.Match[str]) -> Span | None:
    if m.group()[0] in "01" or _not_a_phone(m):
        return None  # North American area codes start with 2-9
    return m.span()


def _phone_trunk(m: re.Match[str]) -> Span | None:
    digits = _digits(m.group())
    international = m.group().startswith("00")
    if not (10 <= digits <= 15 if international else 10 <= digits <= 11) or _not_a_phone(m):
        return None
    return m.span()


def _sub_phone(text: str, count: Counter[str]) -> str:
    if "+" in text:
        text = _scan(text, _PHONE_INTL, _phone_intl, "PHONE", count)
    if "(" in text:
        text = _scan(text, _PHONE_PAREN, _phone_paren, "PHONE", count)
    text = _scan(text, _PHONE_NANP1, lambda m: None if _not_a_phone(m) else m.span(), "PHONE", count)
    text = _scan(text, _PHONE_NANP, _phone_nanp, "PHONE", count)
    if "0" in text:
        text = _scan(text, _PHONE_TRUNK, _phone_trunk, "PHONE", count)
    return text


# ---------------------------------------------------------------- addresses


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


_LIST_GAP = re.compile(r"[ (),;0-9-]*")  # between two versions of a list: "1.0.0.0 (2019), 2.3.1.0"


def _sub_ipv4(text: str, count: Counter[str]) -> str:
    # A dotted quad is a version or a section number when the words before it say so, when all its
    # parts are single digits (1.2.3.4, 2.5.4.3), or when it follows such a number closely on the
    # same line ("1.0.0.0 (2019), 2.3.1.0 (2021), 3.0.0.12 (2024)").
    last_version = -1000

    def judge(m: re.Match[str]) -> Span | None:
        nonlocal last_version
        quad = m.group()
        before = _line_before(text, m.start(), 48)
        if (
            all(len(o) == 1 for o in quad.split("."))
            or _VERSION_CONTEXT.search(before)
            or (m.start() - last_version < 24 and _LIST_GAP.fullmatch(text, last_version, m.start()))
        ):
            last_version = m.end()
            return None
        return m.span() if _ipv4_personal(quad) else None

    return _scan(text, _IPV4, judge, "IP", count)


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


_sub_ipv6 = _simple("IP", _IPV6, _ipv6_personal)


def _sub_ip(text: str, count: Counter[str]) -> str:
    # IPv6 first, so that an IPv4-mapped address (::ffff:192.0.2.128) goes whole.
    if "::" in text or text.count(":") >= 7:
        text = _sub_ipv6(text, count)
    if "." in text:
        text = _sub_ipv4(text, count)
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
    ("PRIVATE_KEY", lambda t, n: "PRIVATE KEY" in t, _simple("PRIVATE_KEY", _PEM)),
    ("TOKEN", lambda t, n: "eyJ" in t or "earer" in t or "EARER" in t or "asic" in t or "ASIC" in t, _sub_token),
    ("API_KEY", lambda t, n: True, _sub_api_key),  # each key family checks its own hint
    ("CREDENTIAL", lambda t, n: True, _sub_credential),
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


def _redact_json(value: object, wanted: frozenset[str], count: Counter[str], key: str = "") -> object:
    if isinstance(value, str):
        if "CREDENTIAL" in wanted and key and is_secret_key(key) and _secret_value_ok(value):
            count["CREDENTIAL"] += 1  # {"password": "hunter2"}: the key says what the value is
            return "<CREDENTIAL>"
        return _redact_into(value, wanted, count)
    if isinstance(value, list):
        return [_redact_json(v, wanted, count, key) for v in value]
    if isinstance(value, dict):
        return {k: _redact_json(v, wanted, count, str(k)) for k, v in value.items()}
    return value


def redact_meta(meta: str, types: Iterable[str] = REDACTION_TYPES) -> tuple[str, Counter[str]]:
    """A ``meta`` JSON string with every string value redacted (keys are left alone)."""
    count: Counter[str] = Counter()
    if not meta or meta == "{}":
        return meta, count
    redacted = _redact_json(json.loads(meta), frozenset(types), count)
    return (json.dumps(redacted, sort_keys=True, ensure_ascii=False) if count else meta), count


def redacted_id(kind: Kind, redacted_fields: dict[str, str], redacted: str) -> str:
    """The id of a record whose id held personal data: the redacted id and the content digest of
    the *redacted* record (``tasks.ingest.content_id``), so two ids that redact alike stay apart
    unless their records are the same, and re-reading the same input gives the same id. Never a
    digest of the original: an e-mail address could be found again by hashing guesses."""
    digest = content_id(kind, redacted_fields)
    return f"{redacted[: ID_MAX_CHARS - len(digest) - 1]}-{digest}"


def redact_batch(
    records: Iterable[Record],
    types: Iterable[str] = REDACTION_TYPES,
) -> tuple[list[Record], Counter[str], int]:
    """Records with every string field redacted (id, source and the text fields; ``meta`` value by
    value); counts by type; how many records changed."""
    wanted = frozenset(types)
    total: Counter[str] = Counter()
    out: list[Record] = []
    changed = 0
    for record in records:
        fields = dict(record.fields)
        before = total.total()
        for name, value in record.fields.items():
            if not isinstance(value, str) or not value:
                continue
            if name == "meta":
                if value != "{}":
                    fields[name], found = redact_meta(value, wanted)
                    total.update(found)
                continue
            fields[name] = _redact_into(value, wanted, total)
        if fields.get("id") != record.fields.get("id"):
            fields["id"] = redacted_id(record.kind, fields, fields["id"])
        changed += total.total() != before
        out.append(Record(record.kind, fields, record.uri, record.location))
    return out, total, changed
