"""Prefect tasks of the monitor stage: thin wrappers over tasks/monitor/window.py, and the drift event."""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.events.related import related_resources_from_run_context
from prefect.utilities.asyncutils import run_coro_as_sync
from prefect.variables import Variable

from llmops import clients
from llmops.settings import load_settings
from tasks.monitor.report import DriftPolicy, DriftReport
from tasks.monitor.window import EVENT, DriftWindow, run_drift_check
from tasks.services import mlflow as tracking
from tasks.services.embedding import embed
from tasks.shared.tasks import transient_only

DRIFT_EXPERIMENT = "drift"


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only, cache_policy=NO_CACHE)
def check_window(
    model_name: str, index_alias: str, window_hours: float, policy: DriftPolicy
) -> tuple[DriftReport, DriftWindow]:
    """Compare the last window of the champion's traffic with its reference traffic; report to Prefect and MLflow."""
    settings = load_settings()
    mlflow = clients.mlflow_client(settings)
    until = datetime.now(UTC)
    report, window, plots = run_drift_check(
        clients.lakefs_client(settings),
        mlflow,
        clients.milvus_client(settings),
        repository=settings.lakefs.repository,
        model_name=model_name,
        index_alias=index_alias,
        since=until - timedelta(hours=window_hours),
        until=until,
        policy=policy,
        embed=embed,
    )

    run = mlflow.create_run(
        tracking.ensure_experiment(mlflow, DRIFT_EXPERIMENT),
        run_name=f"drift-{model_name}",
        tags={
            "llmops.model": model_name,
            "llmops.model_version": window.model_version,
            "llmops.drift_reference": window.reference,
            "llmops.lakefs_commit": window.reference_commit,
            "llmops.drift_state": report.state,
            "llmops.drifted": str(report.drifted).lower(),
        },
    )
    summary = report.summary()
    metrics = {f"{t.name}_statistic": t.statistic for t in report.tests if t.statistic is not None}
    metrics |= {f"{t.name}_p_value": t.p_value for t in report.tests if t.p_value is not None}
    metrics |= {
        "drifted": float(report.drifted),
        "current_requests": float(window.current_requests),
        "reference_requests": float(window.reference_requests),
    }
    buffer = tracking.MetricBuffer(mlflow, run.info.run_id, asynchronous=False)
    buffer.add({k: float(v) for k, v in metrics.items()}, step=0)
    buffer.flush()
    mlflow.log_dict(
        run.info.run_id, {"summary": summary, "window": window.model_dump(mode="json")}, "drift/report.json"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, png in plots.items():
            (Path(tmp) / name).write_bytes(png)
        if plots:
            mlflow.log_artifacts(run.info.run_id, tmp, "drift")
    mlflow.set_terminated(run.info.run_id)

    images = "\n\n".join(
        f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})" for name, png in plots.items()
    )
    create_markdown_artifact(
        key="drift-report",
        markdown=(
            f"{report.markdown()}\n\nWindow {window.since:%Y-%m-%d %H:%M} to {window.until:%H:%M} UTC: "
            f"{window.current_requests} requests served by v{window.model_version}; reference: "
            f"{window.describe_reference()}. "
            f"MLflow run `{run.info.run_id}` in experiment `{DRIFT_EXPERIMENT}`.\n\n{images}\n"
        ),
    )
    return report, window


def _cooldown_key(model_name: str) -> str:
    return f"llmops_drift_last_event_{model_name.replace('-', '_')}"


async def _send(event: Event) -> None:
    # A client of our own rather than `emit_event`: that one hands the event to a process-wide background
    # worker bound to the API URL it first saw and never says whether the event arrived. This one is bound
    # to the current PREFECT_API_URL and raises if the server cannot be reached.
    async with get_client() as client:  # link the event to the flow run, deployment and flow, as emit_event does
        event.related += await related_resources_from_run_context(
            client, exclude={resource.id for resource in event.involved_resources}
        )
    async with get_events_client(reconnection_attempts=3) as events:
        await events.emit(event)


@task(cache_policy=NO_CACHE)
def emit_drift_event(report: DriftReport, window: DriftWindow, cooldown_minutes: float) -> bool:
    """Emit `llmops.drift.detected` (which starts the retrain deployment) unless one was emitted within the cooldown.

    The cooldown starts only once the event was delivered, so a failed delivery is retried by the next check.
    """
    key = _cooldown_key(window.model_name)
    last = Variable.get(key, default=None)
    now = datetime.now(UTC)
    if last and now - datetime.fromisoformat(str(last)) < timedelta(minutes=cooldown_minutes):
        return False  # same drift episode: one retrain is enough
    event = Event(
        event=EVENT,
        occurred=now,
        resource={
            "prefect.resource.id": f"llmops.model.{window.model_name}",
            "llmops.window.since": window.since.isoformat(),
            "llmops.window.until": window.until.isoformat(),
        },
        payload={"model": window.model_name, "model_version": window.model_version, **report.summary()},
    )
    run_coro_as_sync(_send(event))
    Variable.set(key, now.isoformat(), overwrite=True)
    return True
