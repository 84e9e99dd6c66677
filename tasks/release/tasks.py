"""Prefect tasks of the release: alias moves, undone by the transaction's rollback hooks when a step fails."""

from __future__ import annotations

from typing import Literal

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from prefect.transactions import Transaction, get_transaction
from pydantic import Field

from llmops import clients
from llmops.settings import load_settings
from tasks.release import promotion
from tasks.release.history import default_actor
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
def move_champion(
    model_name: str, version: str, approved_by: str | None = None, approval_reason: str | None = None
) -> promotion.AliasMove:
    """Point `champion` at the new version (the old one becomes `previous`); undone if the release fails.

    Recorded in the history as the gate's move, or as the approver's when a person approved the release."""
    mlflow = clients.mlflow_client(load_settings())
    before = promotion.aliases(mlflow, model_name)
    _txn().set(
        "champion", {"model": model_name, "aliases": before, "history": promotion.champion_history(mlflow, model_name)}
    )
    if approved_by:
        return promotion.promote(
            mlflow, model_name, version, reason=f"approved: {approval_reason}", kind="approval", who=approved_by
        )
    return promotion.promote(
        mlflow, model_name, version, reason="passed the gate (released with its index)", kind="gate", who=_flow_actor()
    )


def _flow_actor() -> str:
    from prefect.runtime import flow_run

    return f"prefect flow run {flow_run.name}" if flow_run.name else default_actor()


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


class ApprovalDecision(RunInput):
    """The form a person fills in to release a candidate that passed the gate (shown in the Prefect UI)."""

    decision: Literal["approve", "reject"] = Field(description="Release the candidate, or keep the champion.")
    reason: str = Field(min_length=1, description="Why: recorded on the model version and in the alias history.")
    approver: str = Field(min_length=1, description="Your name, as it should appear in the history.")

    @property
    def approved(self) -> bool:
        return self.decision == "approve"


def approval_key(model_name: str, version: str) -> str:
    return f"approval-{model_name}-v{version}"


def wait_for_approval(model_name: str, version: str, reasons: list[str], timeout_hours: float) -> ApprovalDecision:
    """Suspend the calling flow run until a person approves or rejects (call from a flow, not a task).

    A deployment run is suspended: its process exits and holds no worker or GPU; resuming runs it
    again, every stage before this point reusing its result, and this call returns the answer. A
    run outside a deployment cannot be resubmitted, so it is paused in its process instead."""
    context = FlowRunContext.get()
    form = ApprovalDecision.with_initial_data(
        description=(
            f"**{model_name} v{version} passed the gate.** Approve to release it (the model and its index go "
            "live together), or reject to keep the champion.\n\n" + "\n".join(f"- {r}" for r in reasons)
        ),
        decision="approve",
    )
    timeout = int(timeout_hours * 3600)
    key = approval_key(model_name, version)
    get_run_logger().info(f"waiting for approval of {model_name} v{version} (input form on this flow run)")
    if context is not None and context.flow_run is not None and context.flow_run.deployment_id is not None:
        return suspend_flow_run(wait_for_input=form, timeout=timeout, key=key)
    return pause_flow_run(wait_for_input=form, timeout=timeout, key=key)


@task
def record_approval(model_name: str, version: str, decision: ApprovalDecision) -> str:
    """The answer, on the model version and in the history; returns it as a line of the release's reasons."""
    return promotion.record_approval(
        clients.mlflow_client(load_settings()),
        model_name,
        version,
        approved=decision.approved,
        approver=decision.approver,
        reason=decision.reason,
    )
