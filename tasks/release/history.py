"""Every alias move of a model, recorded append-only: who moved which alias, from what to what, when and why.

MLflow keeps only where an alias points now. Each move is one MLflow run in the experiment
`llmops-alias-history`, tagged with the model, the alias, the versions before and after, the kind
of move (gate, promote, rollback, approval, release-undo), who made it and why. Nothing here
updates or deletes a run, so the experiment is the history; `llmops history MODEL` reads it back
oldest first, and `llmops rollback MODEL --to VERSION` returns to any earlier point of it.
No Prefect here.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from tasks.services.mlflow import aliases

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "llmops-alias-history"
ACTOR_ENV = "LLMOPS_ACTOR"
_TAG = "llmops.alias_move."
MoveKind = Literal["gate", "promote", "rollback", "approval", "release-undo"]


class AliasEvent(BaseModel):
    model: str
    alias: str
    from_version: str | None
    to_version: str | None  # None: the alias was removed
    kind: MoveKind
    who: str
    why: str
    at: datetime


def default_actor() -> str:
    """Who is moving aliases when nobody says: LLMOPS_ACTOR, else user@host of this process."""
    return os.environ.get(ACTOR_ENV) or f"{getpass.getuser()}@{socket.gethostname()}"


def _experiment_id(client: MlflowClient) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(EXPERIMENT, tags={"llmops.purpose": "alias history, append-only"})
    except Exception:  # created meanwhile by another process
        return client.get_experiment_by_name(EXPERIMENT).experiment_id


def record(client: MlflowClient, events: list[AliasEvent]) -> None:
    """Append the events (one run each); never rewrites an earlier one."""
    if not events:
        return
    experiment = _experiment_id(client)
    for seq, event in enumerate(events):
        tags = {
            f"{_TAG}seq": str(seq),  # the order of the aliases of one move (they share its time)
            f"{_TAG}model": event.model,
            f"{_TAG}alias": event.alias,
            f"{_TAG}from": event.from_version or "",
            f"{_TAG}to": event.to_version or "",
            f"{_TAG}kind": event.kind,
            f"{_TAG}who": event.who,
            f"{_TAG}why": event.why[:5000],
        }
        run = client.create_run(
            experiment,
            start_time=int(event.at.timestamp() * 1000),
            tags=tags,
            run_name=f"{event.model}:{event.alias} {event.from_version or '-'}->{event.to_version or '-'}",
        )
        client.update_run(run.info.run_id, status="FINISHED")  # set_terminated would print a link per run


@contextmanager
def recording(client: MlflowClient, model_name: str, kind: MoveKind, who: str | None, why: str) -> Iterator[None]:
    """Record every alias of `model_name` that the block moves (compared before and after)."""
    before = aliases(client, model_name)
    try:
        yield
    finally:  # a move that failed half-way is recorded as far as it went
        _record_changes(client, model_name, kind, who, why, before)


def _record_changes(
    client: MlflowClient, model_name: str, kind: MoveKind, who: str | None, why: str, before: dict[str, str]
) -> None:
    after = aliases(client, model_name)
    at = datetime.now(UTC)
    record(
        client,
        [
            AliasEvent(
                model=model_name,
                alias=alias,
                from_version=before.get(alias),
                to_version=after.get(alias),
                kind=kind,
                who=who or default_actor(),
                why=why,
                at=at,
            )
            for alias in sorted(set(before) | set(after))
            if before.get(alias) != after.get(alias)
        ],
    )


def history(client: MlflowClient, model_name: str) -> list[AliasEvent]:
    """Every recorded move of the model's aliases, oldest first."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    events: list[tuple[tuple[int, int], AliasEvent]] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{_TAG}model` = '{model_name}'",
            order_by=["attributes.start_time ASC"],
            max_results=1000,
            page_token=token,
        )
        for run in page:
            tags = run.data.tags
            events.append(
                (
                    (run.info.start_time, int(tags.get(f"{_TAG}seq", "0"))),
                    AliasEvent(
                        model=tags[f"{_TAG}model"],
                        alias=tags[f"{_TAG}alias"],
                        from_version=tags.get(f"{_TAG}from") or None,
                        to_version=tags.get(f"{_TAG}to") or None,
                        kind=tags[f"{_TAG}kind"],
                        who=tags.get(f"{_TAG}who", ""),
                        why=tags.get(f"{_TAG}why", ""),
                        at=datetime.fromtimestamp(run.info.start_time / 1000, UTC),
                    ),
                )
            )
        token = page.token
        if not token:
            return [e for _, e in sorted(events, key=lambda pair: pair[0])]
