"""The release stage: every alias move of a model, and the release that moves model and index together.

    promotion.py  the gate's outcome, manual promotion, rollback, a release's undo (MLflow aliases)
    tasks.py      Prefect tasks; the release flow runs them in one transaction whose hooks undo both moves

The index alias itself moves through `tasks.services.milvus` (and `llmops index rollback`, `tasks.index`).
"""

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
)

__all__ = [
    "GATE_TAG",
    "HISTORY_TAG",
    "AliasMove",
    "PromotionRefused",
    "champion_history",
    "current_champion",
    "mark_challenger",
    "promote",
    "promote_by_hand",
    "record_gate_outcome",
    "restore_aliases",
    "rollback",
]
