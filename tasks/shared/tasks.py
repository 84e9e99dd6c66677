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
    """Where a person can look at a commit: lakeFS's UI, or the API of the local server (it has no UI)."""
    if settings.lakefs.managed:
        return f"{settings.lakefs.api_url}/repositories/{repository}/commits/{commit}"
    return f"{settings.lakefs.base_url}/repositories/{repository}/commits/{commit}"
