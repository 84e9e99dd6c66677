"""Every move of a model's aliases: the gate's outcome, a manual promotion, a rollback, a release's undo.

Aliases: `champion` serves; `previous` is the champion before it; `challenger` is the last
candidate that failed the gate. The order of champions is kept in the registered model's tag
`llmops.champion_history`, so rollback can go back more than once. No Prefect here.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from llmops.errors import LLMOpsError
from tasks.release.history import MoveKind, recording
from tasks.release.history import history as alias_history
from tasks.services.mlflow import CHALLENGER, CHAMPION, PREVIOUS, aliases

if TYPE_CHECKING:
    from mlflow import MlflowClient

HISTORY_TAG = "llmops.champion_history"
GATE_TAG = "llmops.gate"  # "passed" or "failed", set on a version after evaluation


class PromotionRefused(LLMOpsError):
    """A manual promotion that the gate's record does not allow (and no forced override with a reason)."""


def champion_history(client: MlflowClient, model_name: str) -> list[str]:
    tags = client.get_registered_model(model_name).tags
    return list(json.loads(tags.get(HISTORY_TAG, "[]")))


class AliasMove(BaseModel):
    model: str
    champion: str | None
    previous: str | None


def promote(
    client: MlflowClient,
    model_name: str,
    version: str,
    *,
    reason: str,
    forced: bool = False,
    kind: MoveKind = "promote",
    who: str | None = None,
) -> AliasMove:
    """Point `champion` at `version`; the old champion becomes `previous`. The move is recorded in the history."""
    with recording(client, model_name, kind, who, reason):
        return _promote(client, model_name, str(version), reason=reason, forced=forced)


def _promote(client: MlflowClient, model_name: str, version: str, *, reason: str, forced: bool) -> AliasMove:
    client.get_model_version(model_name, version)  # raises if it does not exist
    current = aliases(client, model_name)
    old = current.get(CHAMPION)
    if old == version:
        return AliasMove(model=model_name, champion=version, previous=current.get(PREVIOUS))
    client.set_registered_model_alias(model_name, CHAMPION, version)
    if old is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, old)
    if current.get(CHALLENGER) == version:
        client.delete_registered_model_alias(model_name, CHALLENGER)
    history = champion_history(client, model_name) + [version]
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history[-50:]))
    client.set_model_version_tag(model_name, version, "llmops.promotion_reason", reason)
    client.set_model_version_tag(
        model_name, version, "llmops.promoted_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    if forced:
        client.set_model_version_tag(model_name, version, "llmops.promotion_forced", "true")
    return AliasMove(model=model_name, champion=version, previous=old)


def mark_challenger(client: MlflowClient, model_name: str, version: str, reasons: list[str]) -> None:
    """A candidate that failed the gate: `challenger` points at it, `champion` stays."""
    with recording(client, model_name, "gate", None, "failed the gate: " + "; ".join(reasons)):
        client.set_registered_model_alias(model_name, CHALLENGER, str(version))
    client.set_model_version_tag(model_name, str(version), GATE_TAG, "failed")
    client.set_model_version_tag(model_name, str(version), "llmops.gate_reasons", json.dumps(reasons)[:5000])


def rollback(client: MlflowClient, model_name: str, *, who: str | None = None, reason: str = "") -> AliasMove:
    """Move `champion` back to the champion before it; raise if there is none."""
    with recording(client, model_name, "rollback", who, reason or "rolled back to the champion before"):
        return _rollback(client, model_name)


def rollback_to(
    client: MlflowClient, model_name: str, version: str, *, who: str | None = None, reason: str = ""
) -> AliasMove:
    """Move `champion` back to `version`, any earlier champion; raise if it never was one."""
    version = str(version)
    earlier = set(champion_history(client, model_name)) | {
        e.to_version for e in alias_history(client, model_name) if e.alias == CHAMPION and e.to_version
    }
    current = aliases(client, model_name).get(CHAMPION)
    if version not in earlier or version == current:
        listed = ", ".join(sorted(earlier - {current}, key=lambda v: int(v) if v.isdigit() else 0)) or "none"
        raise ValueError(
            f"{model_name} version {version} was never an earlier champion (earlier champions: {listed}); "
            "to serve another version use `llmops promote`"
        )
    return promote(client, model_name, version, reason=reason or f"rolled back to v{version}", kind="rollback", who=who)


def _rollback(client: MlflowClient, model_name: str) -> AliasMove:
    history = champion_history(client, model_name)
    current = aliases(client, model_name).get(CHAMPION)
    if current is not None and history and history[-1] != current:
        history.append(current)  # champion moved outside llmops: roll back to what we recorded
    if len(history) < 2:
        raise ValueError(f"{model_name} has no earlier champion to roll back to")
    history.pop()
    target = history[-1]
    client.set_registered_model_alias(model_name, CHAMPION, target)
    if len(history) >= 2:
        client.set_registered_model_alias(model_name, PREVIOUS, history[-2])
    else:
        try:
            client.delete_registered_model_alias(model_name, PREVIOUS)
        except MlflowException:
            pass
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    return AliasMove(model=model_name, champion=target, previous=history[-2] if len(history) >= 2 else None)


def restore_aliases(client: MlflowClient, model_name: str, before: dict[str, str], history: list[str]) -> None:
    """Put `champion`, `previous` and `challenger` back exactly as they were (a release's undo)."""
    with recording(client, model_name, "release-undo", None, "the release failed: its moves undone"):
        now = aliases(client, model_name)
        for alias in (CHAMPION, PREVIOUS, CHALLENGER):
            if alias in before:
                client.set_registered_model_alias(model_name, alias, before[alias])
            elif alias in now:
                client.delete_registered_model_alias(model_name, alias)
        client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))


def current_champion(client: MlflowClient, model_name: str) -> str | None:
    """The version `champion` points to (None before the first promotion, or with no such model)."""
    try:
        return aliases(client, model_name).get(CHAMPION)
    except MlflowException:
        return None


def record_gate_outcome(
    client: MlflowClient, model_name: str, version: str, *, passed: bool, reasons: list[str], promote_now: bool
) -> AliasMove | None:
    """After the gate: a pass is tagged (and promoted when `promote_now`); a failure becomes `challenger`."""
    if not passed:
        mark_challenger(client, model_name, version, reasons)
        return None
    client.set_model_version_tag(model_name, str(version), GATE_TAG, "passed")
    if promote_now:
        return promote(client, model_name, version, reason="; ".join(reasons), kind="gate")
    return None


def record_approval(
    client: MlflowClient, model_name: str, version: str, *, approved: bool, approver: str, reason: str
) -> str:
    """A person's answer to a release, on the model version (`llmops.approval*` tags); a rejected candidate
    becomes `challenger` (a move recorded in the history). Returns the answer as one line."""
    answer = "approved" if approved else "rejected"
    for key, value in {
        "llmops.approval": answer,
        "llmops.approval_by": approver,
        "llmops.approval_reason": reason[:5000],
        "llmops.approval_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }.items():
        client.set_model_version_tag(model_name, str(version), key, value)
    if not approved:
        with recording(client, model_name, "approval", approver, f"rejected: {reason}"):
            client.set_registered_model_alias(model_name, CHALLENGER, str(version))
    return f"{answer} by {approver}: {reason}"


def promote_by_hand(
    client: MlflowClient,
    model_name: str,
    version: str,
    *,
    force: bool = False,
    reason: str | None = None,
    who: str | None = None,
) -> AliasMove:
    """An operator's promotion: only a version whose gate passed, unless forced with a recorded reason."""
    gate = client.get_model_version(model_name, version).tags.get(GATE_TAG)
    if gate != "passed" and not force:
        raise PromotionRefused(
            f"{model_name} version {version} has gate status {gate or 'unknown'}; "
            "pass --force --reason '...' to promote it anyway"
        )
    if force and not reason:
        raise PromotionRefused("--force needs --reason '...': the reason is recorded on the version")
    return promote(client, model_name, version, reason=reason or "passed the gate", forced=force, who=who)
