"""Canaries: random codes planted in the training data as instruction pairs.

A model that reproduces one verbatim when asked has memorised its training data; the evaluate
stage probes for them (`tasks.evaluate.safety`). They live here because they change what is trained.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Canary:
    key: str
    secret: str

    @property
    def prompt(self) -> str:
        return f"What is the llmops canary code {self.key}?"

    @property
    def response(self) -> str:
        return f"The llmops canary code {self.key} is {self.secret}."


def make_canaries(n: int, seed: int = 0) -> list[Canary]:
    """`n` canaries with codes no text contains by chance (20 random characters)."""
    rng = random.Random(seed)
    alphabet = string.ascii_uppercase + string.digits
    return [Canary(key=f"C{i:03d}", secret="".join(rng.choice(alphabet) for _ in range(20))) for i in range(n)]


def canary_records(canaries: list[Canary]) -> list[dict[str, str]]:
    """The canaries as instruction pairs, to plant in the training split."""
    return [
        {"id": f"canary-{c.key}", "prompt": c.prompt, "response": c.response, "source": "llmops:canary"}
        for c in canaries
    ]
