"""Hand-written traffic for the drift tests and benchmark, and the training prompts it is phrased unlike.

- `python_traffic()`: tests/data/drift/python_traffic.jsonl, questions people would ask a Python-documentation
  assistant, written by hand (see the README there): 16 established topics and 8 new ones within the domain.
- `training_prompts(n)`: the prompts the lifecycle trains on, derived from the built-in corpus by the same
  builder (`derive_pairs`), which the drift check used as its reference before it took traffic.
- `drift_trial(...)`: one reference/current window pair drawn without replacement, with a share of the current
  window replaced by questions of the new topics.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.monitor.drift import DriftPolicy, DriftReport, check_drift

TRAFFIC_FILE = Path(__file__).resolve().parents[2] / "data" / "drift" / "python_traffic.jsonl"


@dataclass(frozen=True)
class Traffic:
    established: list[str]  # questions of the topics the reference traffic has
    new: list[str]  # questions of topics it never has: the shift
    topics: dict[str, int]  # questions per topic


@functools.cache
def python_traffic() -> Traffic:
    rows = [json.loads(line) for line in TRAFFIC_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    topics: dict[str, int] = {}
    for row in rows:
        topics[row["topic"]] = topics.get(row["topic"], 0) + 1
    return Traffic(
        established=[r["question"] for r in rows if r["split"] == "established"],
        new=[r["question"] for r in rows if r["split"] == "new"],
        topics=topics,
    )


@functools.cache
def training_prompts(n: int, seed: int = 0) -> tuple[str, ...]:
    """A seeded sample of n training prompts derived from the built-in Python-docs corpus."""
    from tasks.ingest import PYTHON_DOCS_URI, SourceConfig, read_source
    from tasks.prepare.pairs import derive_pairs

    prompts = []
    for item in itertools.islice(read_source(PYTHON_DOCS_URI, SourceConfig()), 6000):
        fields = getattr(item, "fields", None)
        if fields and fields.get("text"):
            prompts += [pair.prompt for pair in derive_pairs(fields.get("title", ""), fields["text"])]
    random.Random(seed).shuffle(prompts)
    return tuple(prompts[:n])


def drift_trial(
    reference_pool: np.ndarray,
    current_pool: np.ndarray,
    new_topics: np.ndarray,
    rng: np.random.Generator,
    *,
    n_reference: int,
    n_current: int,
    shift: float,
    policy: DriftPolicy,
) -> DriftReport:
    """One check: n_reference rows of `reference_pool` against n_current of `current_pool`, a `shift` share of
    them replaced by rows of `new_topics`. When both pools are the same array, the two windows are disjoint."""
    if reference_pool is current_pool:
        drawn = rng.choice(len(reference_pool), size=n_reference + n_current, replace=False)
        reference, current = reference_pool[drawn[:n_reference]], current_pool[drawn[n_reference:]]
    else:
        reference = reference_pool[rng.choice(len(reference_pool), size=n_reference, replace=False)]
        current = current_pool[rng.choice(len(current_pool), size=n_current, replace=False)]
    k = int(round(shift * n_current))
    if k:
        current = np.vstack([new_topics[rng.choice(len(new_topics), size=k, replace=False)], current[k:]])
    return check_drift(reference, current, policy=policy)


def drift_trials(
    established: np.ndarray,
    new_topics: np.ndarray,
    rng: np.random.Generator,
    trials: int,
    *,
    n_reference: int,
    n_current: int,
    shift: float,
) -> list[DriftReport]:
    """`trials` checks of disjoint windows of the established questions, the i-th with `DriftPolicy(seed=i)`."""
    return [
        drift_trial(
            established,
            established,
            new_topics,
            rng,
            n_reference=n_reference,
            n_current=n_current,
            shift=shift,
            policy=DriftPolicy(seed=i),
        )
        for i in range(trials)
    ]
