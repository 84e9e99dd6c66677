"""Test data and configs shared by the training tests (and the killed-process script they start)."""

from __future__ import annotations

import random

from tasks.train.config import FinetuneConfig

COLORS = ["red", "blue", "green", "yellow", "black", "white"]
ANIMALS = ["cat", "dog", "bird", "fish", "horse", "cow"]


def make_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Short instruction pairs with learnable answers (a colour lookup, a sum, a copy)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        animal, color = rng.choice(ANIMALS), rng.choice(COLORS)
        a, b = rng.randint(0, 20), rng.randint(0, 20)
        kind = rng.randrange(3)
        if kind == 0:
            rows.append({"prompt": f"What color is the {color} {animal}?", "response": f"The {animal} is {color}."})
        elif kind == 1:
            rows.append({"prompt": f"Add {a} and {b}.", "response": f"{a} plus {b} is {a + b}."})
        else:
            rows.append({"prompt": f"Repeat: {animal} {color}", "response": f"{animal} {color}"})
    return rows


def tiny_config(**overrides) -> FinetuneConfig:
    """A config that trains the embedded model in a second or two (numbers chosen for speed, not quality)."""
    values = dict(
        max_seq_length=64,
        per_device_batch_size=8,
        max_steps=12,
        learning_rate=5e-3,
        warmup_ratio=0.0,
        lr_scheduler="linear",
        log_every_steps=4,
        save_every_steps=100,
        lora_dropout=0.0,
    )
    return FinetuneConfig(**(values | overrides))
