"""What the stages' Prefect tasks share: retry only transient failures, the flow run's identity, lakeFS links."""

from __future__ import annotations

from typing import Any

import httpx

from llmops import clients
from llmops.settings import Settings, load_settings
from tasks.services import lakefs as versioning

# Failures a retry can fix: the network, timeouts, a server that is restarting.
TRANSIENT = (httpx.TransportError, ConnectionError, TimeoutError)


def transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn`: retry network errors and 5xx answers, never bad input or a 4xx."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except Exception as exc:
        status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
        return isinstance(status, int) and status >= 500
    return False


def flow_run_metadata() -> dict[str, str]:
    """`llmops.prefect_flow_run_id` / `_url` of the current flow run (empty outside a run)."""
    from prefect.runtime import flow_run

    run_id = flow_run.id
    if not run_id:
        return {}
    return {"llmops.prefect_flow_run_id": str(run_id), "llmops.prefect_flow_run_url": str(flow_run.ui_url or "")}


def lakefs_repository() -> tuple[Any, str, Settings]:
    """(client, repository, settings) for this run: the data repository, created on first use."""
    settings = load_settings()
    client = clients.lakefs_client(settings)
    versioning.ensure_repository(client, settings.lakefs.repository, settings.lakefs.storage_namespace)
    return client, settings.lakefs.repository, settings


def commit_url(settings: Settings, repository: str, commit: str) -> str:
    """Where a person can read a commit: the local server's HTML view, or real lakeFS's own UI."""
    if settings.lakefs.managed:
        return f"{settings.lakefs.base_url}/ui/{repository}/commits/{commit}"
    return f"{settings.lakefs.base_url}/repositories/{repository}/commits/{commit}"


class ProgressArtifact:
    """A Prefect progress artifact for a long task (shown on the run's page), updated at most every `every_s`."""

    def __init__(self, key: str, description: str, every_s: float = 5.0) -> None:
        from prefect.artifacts import create_progress_artifact

        self.description, self.every_s, self._last = description, every_s, 0.0
        self.id = create_progress_artifact(progress=0.0, key=key, description=description)

    def update(self, done: float, total: float, note: str = "") -> None:
        import time

        from prefect.artifacts import update_progress_artifact

        now = time.monotonic()
        if total <= 0 or (done < total and now - self._last < self.every_s):
            return
        self._last = now
        text = f"{self.description}: {note}" if note else self.description
        update_progress_artifact(self.id, progress=min(100.0, 100.0 * done / total), description=text)
