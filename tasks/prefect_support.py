"""What every Prefect task wrapper shares: retry only transient failures, and the flow run's identity."""

from __future__ import annotations

from typing import Any

import httpx

# Failures a retry can fix: the network, timeouts, a server that is restarting.
TRANSIENT = (httpx.TransportError, ConnectionError, TimeoutError)


def transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn`: retry network errors and 5xx answers, never bad input or a 4xx."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except Exception as exc:  # noqa: BLE001 - we only classify it here; Prefect re-raises it
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
