"""Prefect tasks of the release: alias moves, undone by the transaction's rollback hooks when a step fails."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.transactions import Transaction, get_transaction

from llmops import clients
from llmops.settings import load_settings
from tasks.release import promotion
from tasks.services import milvus


def _txn() -> Transaction:
    txn = get_transaction()
    if txn is None:
        raise RuntimeError("release tasks run inside a Prefect transaction (see flows/release.py)")
    return txn


@task
def swap_index_alias(alias: str, collection: str) -> str | None:
    """Point the serving alias at the new collection; undone if the release fails."""
    previous = milvus.move_alias(clients.milvus_client(load_settings()), alias, collection)
    _txn().set("index", {"alias": alias, "previous": previous, "new": collection})
    return previous


@swap_index_alias.on_rollback
def _restore_index_alias(txn: Transaction) -> None:
    state = txn.get("index", None)
    if state:
        milvus.restore_alias(clients.milvus_client(load_settings()), state["alias"], state["previous"])


@task
def move_champion(model_name: str, version: str) -> promotion.AliasMove:
    """Point `champion` at the new version (the old one becomes `previous`); undone if the release fails."""
    mlflow = clients.mlflow_client(load_settings())
    before = promotion.aliases(mlflow, model_name)
    _txn().set(
        "champion", {"model": model_name, "aliases": before, "history": promotion.champion_history(mlflow, model_name)}
    )
    return promotion.promote(
        mlflow, model_name, version, reason="passed the gate (released with its index)", kind="gate", who=_flow_actor()
    )


def _flow_actor() -> str:
    from prefect.runtime import flow_run

    return f"prefect flow run {flow_run.name}" if flow_run.name else promotion.default_actor()


@move_champion.on_rollback
def _restore_champion(txn: Transaction) -> None:
    state = txn.get("champion", None)
    if state:
        promotion.restore_aliases(
            clients.mlflow_client(load_settings()), state["model"], state["aliases"], state["history"]
        )


@task
def record_gate_outcome(
    model_name: str, version: str, passed: bool, reasons: list[str], promote: bool
) -> promotion.AliasMove | None:
    """Tag a passing candidate (and move `champion` when `promote`); a failing one becomes `challenger`."""
    return promotion.record_gate_outcome(
        clients.mlflow_client(load_settings()), model_name, version, passed=passed, reasons=reasons, promote_now=promote
    )


@task(cache_policy=NO_CACHE)  # read it fresh each time: it moves within one lifecycle run
def current_champion(model_name: str) -> str | None:
    """The version the `champion` alias points to (None before the first promotion)."""
    return promotion.current_champion(clients.mlflow_client(load_settings()), model_name)
