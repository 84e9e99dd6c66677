"""Prefect tasks of the retrieval index and of the release: thin wrappers over tasks/retrieval.py and tasks/registry.py."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.transactions import Transaction, get_transaction

from llmops import clients
from llmops.settings import load_settings
from tasks import registry, retrieval
from tasks.datasets import DatasetRef
from tasks.modeling import read_split
from tasks.monitoring.embedding import embed
from tasks.prefect_support import flow_run_metadata, transient_only


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def build_index(dataset: DatasetRef, config: retrieval.IndexConfig, swap: bool) -> retrieval.IndexResult:
    """Embed the dataset's corpus into a new Milvus collection and validate it (swap the alias if asked)."""
    settings = load_settings()
    docs = read_split(clients.lakefs_client(settings), dataset, dataset.corpus)
    result = retrieval.rebuild_index(
        clients.milvus_client(settings), docs.to_dict("records"), lakefs_commit=dataset.commit,
        flow_run=flow_run_metadata().get("llmops.prefect_flow_run_id", ""), config=config,
        embed=lambda texts: embed(texts, batch_size=config.embed_batch_size, model_path=config.embedding_model),
        log=get_run_logger().info, swap=swap)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    create_markdown_artifact(
        key="index-build",
        markdown=(f"# Index `{result.collection}`\n\n"
                  f"{'Reused (same corpus commit and config)' if result.skipped else f'{result.rows} chunks; {timings}'}"
                  f"\n\n- alias `{result.alias}` {'moved here' if result.swapped else 'not moved by this step'}"
                  f"\n- self-recall in validation: {result.self_recall}\n- replaces: `{result.previous}`\n"))
    return result


def _txn() -> Transaction:
    txn = get_transaction()
    if txn is None:
        raise RuntimeError("release tasks run inside a Prefect transaction (see flows/release.py)")
    return txn


@task
def swap_index_alias(alias: str, collection: str) -> str | None:
    """Point the serving alias at the new collection; undone if the release fails."""
    previous = retrieval.move_alias(clients.milvus_client(load_settings()), alias, collection)
    _txn().set("index", {"alias": alias, "previous": previous, "new": collection})
    return previous


@swap_index_alias.on_rollback
def _restore_index_alias(txn: Transaction) -> None:
    state = txn.get("index", None)
    if not state:
        return
    client = clients.milvus_client(load_settings())
    if state["previous"]:
        client.alter_alias(state["previous"], state["alias"])
    else:
        client.drop_alias(state["alias"])


@task
def move_champion(model_name: str, version: str) -> registry.AliasMove:
    """Point `champion` at the new version (the old one becomes `previous`); undone if the release fails."""
    mlflow = clients.mlflow_client(load_settings())
    before = registry.aliases(mlflow, model_name)
    _txn().set("champion", {"model": model_name, "aliases": before,
                            "history": registry.champion_history(mlflow, model_name)})
    return registry.promote(mlflow, model_name, version, reason="passed the gate (released with its index)")


@move_champion.on_rollback
def _restore_champion(txn: Transaction) -> None:
    state = txn.get("champion", None)
    if not state:
        return
    registry.restore_aliases(clients.mlflow_client(load_settings()), state["model"], state["aliases"], state["history"])
