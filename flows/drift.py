"""Scheduled drift check: the champion's traffic vs its reference traffic; drift emits an event that retrains.

The run ends in a named state: Drift (the event was emitted, or suppressed by the cooldown), NoDrift,
InsufficientData (too few requests in the window) or CollectingReference (the new champion's reference
traffic is still arriving). Only Drift starts a retrain.
"""

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
        message = report.reasons[0] if report.reasons else f"{window.current_requests} requests, no drift"
        print(f"drift check: {report.state.replace('_', ' ')}: {message}")
        return Completed(name=report.state_name, message=message, data=report)
    emitted = emit_drift_event(report, window, cooldown_minutes)
    print(f"drift: {'; '.join(report.reasons)}; event {'emitted' if emitted else 'suppressed (cooldown)'}")
    return report
