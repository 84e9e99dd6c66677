"""Redaction: what is found, what is left alone, and properties over generated text."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.ingest.records import Record
from tasks.prepare.redact import iban_valid, luhn_valid, redact_batch, redact_meta, redact_text
from tests.synthetic import FAKERS, iban_with_check, plant_pii

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\nb3BlbnNzaC1rZXktdjE=\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+news@mail.example.co.uk today", "mail <EMAIL> today"),
        ("<first_last@example.org>", "<<EMAIL>>"),
        ("Call +1 415 555 0134.", "Call <PHONE>."),
        ("or (415) 555-0134, or 415.555.0134", "or <PHONE>, or <PHONE>"),
        ("UK: +44 20 7946 0958; DE: +49 30 1234567; +4930123456", "UK: <PHONE>; DE: <PHONE>; <PHONE>"),
        ("visa 4111 1111 1111 1111 ok", "visa <CARD> ok"),
        ("mc 5500-0000-0000-0004, amex 3782 822463 10005, raw 6011000990139424", "mc <CARD>, amex <CARD>, raw <CARD>"),
        ("IBAN DE89 3704 0044 0532 0130 00 and GB82WEST12345698765432.", "IBAN <IBAN> and <IBAN>."),
        (
            "host 203.0.113.7, v6 2001:db8:85a3::8a2e:370:7334 and fe80::1ff:fe23:4567:890a",
            "host <IP>, v6 <IP> and <IP>",
        ),
        ("full 2001:0db8:0000:0000:0000:ff00:0042:8329", "full <IP>"),
        (
            "SSN 078-05-1120, NINO JG 10 37 40 A and JG103740A",
            "SSN <NATIONAL_ID>, NINO <NATIONAL_ID> and <NATIONAL_ID>",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE key", "aws <API_KEY> key"),
        ("gh ghp_" + "a1B2" * 9 + " slack xoxb-123456789012-abcdefABCDEF", "gh <API_KEY> slack <API_KEY>"),
        (
            "openai sk-proj-" + "Ab3" * 10 + " google AIza" + "x" * 35 + " stripe sk_live_" + "9" * 24,
            "openai <API_KEY> google <API_KEY> stripe <API_KEY>",
        ),
        (f"token {JWT} end", "token <TOKEN> end"),
        ("Authorization: Bearer 4f9a1c2e8b7d6a5f4e3d2c1b", "Authorization: Bearer <TOKEN>"),
        (f"key:\n{PEM}\nafter", "key:\n<PRIVATE_KEY>\nafter"),
        (
            "cut off -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7",
            "cut off <PRIVATE_KEY>",
        ),
    ],
)
def test_finds_and_replaces(text: str, expected: str) -> None:
    redacted, counts = redact_text(text)
    assert redacted == expected
    assert sum(counts.values()) == expected.count("<") - text.count("<")


@pytest.mark.parametrize(
    "text",
    [
        "Python 3.11.7 was released on 2023-12-04 at 12:30:45 (build 2023.12.04).",
        "hex 0x7fffffffffffffff, 0xDEADBEEF and 2**64 = 18446744073709551616",
        "a[1::2], x[::3], s[ab::cd], std::vector, Example::",
        "MAC 00:1a:2b:3c:4d:5e, time 10:30:00, ratio 16:9, port localhost:8080",
        "uuid 123e4567-e89b-12d3-a456-426614174000 and sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "ISBN 978-3-16-148410-0, pi 3.14159265358979, 1,234,567 items, (1, 2, 3)",
        "9007199254740993 is 2**53 + 1; 1700000000000 ms; 4111 1111 1111 1112 fails Luhn",
        "not IPs: 1.2.3, 10.0.0.256, 127.0.0.1, 0.0.0.0, ::1, netmask 255.255.255.0",
        "not IBAN: DE89 3704 0044 0532 0130 01 (checksum), XX89370400440532013000",
        "not SSN: 000-12-3456 666-12-3456 900-12-3456 123-00-4567; +1 2 3",
        "not keys: sk-short, AKIA123, task-management-system, ghp_short, xoxb-1",
        "the bearer of bad news; Bearer token",
        "decorators @property and @functools.cache, matrix a @ b",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END PUBLIC KEY-----",
    ],
)
def test_leaves_look_alikes_alone(text: str) -> None:
    assert redact_text(text) == (text, Counter())


def test_types_can_be_chosen() -> None:
    text = "mail a@example.com from 203.0.113.7"
    assert redact_text(text, ["EMAIL"])[0] == "mail <EMAIL> from 203.0.113.7"
    assert redact_text(text, [])[0] == text


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE89370400440532013001")
    assert iban_valid(iban_with_check("FR", "20041010050500013M02606"))
    assert not iban_valid("DE8937040044053201300")  # one character short for Germany


def test_meta_and_batch_are_redacted_with_counts() -> None:
    meta = json.dumps({"author": "a@example.com", "tags": ["call +1 415 555 0134"], "n": 3})
    redacted, counts = redact_meta(meta)
    assert json.loads(redacted) == {"author": "<EMAIL>", "tags": ["call <PHONE>"], "n": 3}
    assert counts == Counter({"EMAIL": 1, "PHONE": 1})
    record = Record(
        "instruction",
        {"id": "1", "prompt": "Mail a@example.com?", "response": "Card 4111111111111111.", "source": "s", "meta": meta},
        "u",
        "line 1",
    )
    clean = Record(
        "document", {"id": "2", "title": "T", "text": "Nothing here.", "source": "s", "meta": "{}"}, "u", "line 2"
    )
    out, total, changed = redact_batch([record, clean])
    assert out[0].fields["prompt"] == "Mail <EMAIL>?" and out[0].fields["response"] == "Card <CARD>."
    assert out[1].fields == clean.fields
    assert total == Counter({"EMAIL": 2, "CARD": 1, "PHONE": 1}) and changed == 1


# ---------------------------------------------------------------- properties

_SAFE = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"), exclude_characters="\x85"), max_size=60
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=_SAFE,
    after=_SAFE,
    kinds=st.lists(st.sampled_from(sorted(FAKERS)), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_planted_secret_survives(before: str, after: str, kinds: list[str], seed: int) -> None:
    text, planted = plant_pii(f"{before} {after}", random.Random(seed), tuple(kinds))
    redacted, counts = redact_text(text)
    for kind, secret in planted:
        assert secret not in redacted, (kind, secret, redacted)
    assert sum(counts.values()) >= len(planted)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["EMAIL", "CARD", "API_KEY"]))
def test_planted_emails_cards_and_keys_get_their_own_placeholder(seed: int, kind: str) -> None:
    secret = FAKERS[kind](random.Random(seed))
    redacted, counts = redact_text(f"value: {secret} (end)")
    assert redacted == f"value: <{kind}> (end)" and counts == Counter({kind: 1})


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10)
_TOKEN = st.one_of(
    _WORD,
    _WORD.map(str.capitalize),
    st.integers(0, 999).map(str),
    st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(0, 20)).map(lambda v: "%d.%d.%d" % v),  # noqa: UP031
    st.dates().map(lambda d: d.isoformat()),
    st.times().map(lambda t: t.strftime("%H:%M:%S")),
    st.integers(0, 2**32).map(hex),
    st.floats(0, 1e6, allow_nan=False).map(lambda f: f"{f:.6f}"),
    st.tuples(_WORD, _WORD, _WORD).map(".".join),
    st.tuples(_WORD, st.integers(0, 9), st.integers(1, 9)).map(lambda v: f"{v[0]}[{v[1]}::{v[2]}]"),
)
_PLAIN = st.lists(st.tuples(_TOKEN, st.sampled_from([" ", ", ", ". ", "\n", "; ", " (", ") "])), max_size=40).map(
    lambda parts: "".join(token + sep for token, sep in parts)
)


@settings(max_examples=300, deadline=None)
@given(text=_PLAIN)
def test_text_without_personal_data_is_unchanged(text: str) -> None:
    assert redact_text(text) == (text, Counter())


@settings(max_examples=100, deadline=None)
@given(before=_SAFE, seed=st.integers(0, 2**32 - 1))
def test_redaction_is_idempotent(before: str, seed: int) -> None:
    text, _ = plant_pii(before, random.Random(seed), tuple(FAKERS))
    once, _ = redact_text(text)
    assert redact_text(once) == (once, Counter())
