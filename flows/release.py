"""Release: the index alias and the model's `champion` alias move together, or neither does."""

from __future__ import annotations

from prefect import flow
from prefect.transactions import transaction

from tasks.release.tasks import move_champion, swap_index_alias


@flow(name="release", log_prints=True, persist_result=True)
def release_flow(
    model_name: str,
    version: str,
    index_alias: str,
    collection: str,
    approved_by: str | None = None,
    approval_reason: str | None = None,
) -> None:
    """Swap the serving index and the champion model as one step; a failure rolls both back."""
    with transaction():
        swap_index_alias(index_alias, collection)
        move_champion(model_name, version, approved_by, approval_reason)
