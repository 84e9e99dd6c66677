"""The release stage: every alias move of a model, and the release that moves model and index together.

    promotion.py  the gate's outcome, manual promotion, rollback, a release's undo (MLflow aliases)
    history.py    every alias move, append-only (who, why, when, from, to): `llmops history`
    tasks.py      Prefect tasks; the release flow runs them in one transaction whose hooks undo both moves

The index alias itself moves through `tasks.services.milvus` (and `llmops index rollback`, `tasks.index`).
"""

from tasks.release.history import EXPERIMENT as HISTORY_EXPERIMENT
from tasks.release.history import AliasEvent, default_actor
from tasks.release.history import history as alias_history
from tasks.release.promotion import (
    GATE_TAG,
    HISTORY_TAG,
    AliasMove,
    PromotionRefused,
    champion_history,
    current_champion,
    mark_challenger,
    promote,
    promote_by_hand,
    record_gate_outcome,
    restore_aliases,
    rollback,
    rollback_to,
)

__all__ = [
    "GATE_TAG",
    "HISTORY_EXPERIMENT",
    "HISTORY_TAG",
    "AliasEvent",
    "AliasMove",
    "PromotionRefused",
    "alias_history",
    "champion_history",
    "current_champion",
    "default_actor",
    "mark_challenger",
    "promote",
    "promote_by_hand",
    "record_gate_outcome",
    "restore_aliases",
    "rollback",
    "rollback_to",
]
