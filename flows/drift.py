"""Scheduled drift check: inference logs vs the champion's training data; drift emits an event that retrains."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, State

from tasks.monitor import DriftPolicy, DriftReport
from tasks.monitor.tasks import check_window, emit_drift_event


@flow(name="drift-check", log_prints=True, persist_result=True)
def drift_flow(
    model_name: str = "llmops-assistant",
    index_alias: str = "llmops_docs",
    window_hours: float = 1.0,
    policy: DriftPolicy | None = None,
    cooldown_minutes: float = 360.0,
) -> DriftReport | State:
    """Compare the last window of traffic with the reference; on drift, emit `llmops.drift.detected`."""
    report, window = check_window(model_name, index_alias, window_hours, policy or DriftPolicy())
    if not report.drifted:
        return Completed(name="NoDrift", message=f"{window.current_requests} requests, no drift", data=report)
    emitted = emit_drift_event(report, window, cooldown_minutes)
    print(f"drift: {'; '.join(report.reasons)}; event {'emitted' if emitted else 'suppressed (cooldown)'}")
    return report
