"""A drift event starts exactly one retrain run per cooldown, through the trigger in prefect.yaml."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Cancelled

from infra import local_stack
from llmops import prefect_api
from llmops.settings import Settings, find_project_root
from tasks.monitor import DriftPolicy, DriftWindow, check_drift
from tasks.monitor.tasks import emit_drift_event
from tests.conftest import running_test_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trigger_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A stack of its own, so the retrain run this test starts never competes with the shared stack's work."""
    with running_test_stack(tmp_path_factory.mktemp("trigger-stack") / "state") as (settings, _):
        yield settings


def _retrain_runs(client: SyncPrefectClient) -> list:
    return client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["retrain"])))


def test_drift_event_starts_exactly_one_retrain_within_the_cooldown(trigger_stack: Settings) -> None:
    running_stack = trigger_stack
    local_stack.deploy(running_stack, find_project_root())
    rng = np.random.default_rng(0)
    report = check_drift(rng.normal(size=(200, 16)), rng.normal(loc=0.8, size=(100, 16)), policy=DriftPolicy())
    assert report.drifted
    now = datetime.now(UTC)
    window = DriftWindow(
        model_name=f"drift-test-{uuid.uuid4().hex[:6]}",
        model_version="1",
        reference="traffic",
        reference_commit="c",
        reference_requests=200,
        since=now - timedelta(hours=1),
        until=now,
        current_requests=100,
    )
    with (
        prefect_api.prefect_context(running_stack),
        prefect_api.prefect_client(running_stack) as client,
    ):
        deployment = client.read_deployment_by_name("drift-check/drift-check")
        assert [s.schedule.cron for s in deployment.schedules] == ["0 * * * *"]
        before = len(_retrain_runs(client))
        # Earlier tests in the same process leave Prefect's process-wide events worker bound to another
        # server (CI lost the event that way); the drift event must reach the server configured now.
        with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
            emit_event("llmops.test.elsewhere", resource={"prefect.resource.id": "llmops.test"})
        assert emit_drift_event.fn(report, window, cooldown_minutes=60) is True
        assert emit_drift_event.fn(report, window, cooldown_minutes=60) is False  # same episode
        # the server's trigger service reads new automations every 5 s and then works through its event
        # backlog in order; on two busy cores that can take a while
        deadline = time.monotonic() + 150
        runs = []
        while time.monotonic() < deadline and len(runs) <= before:
            time.sleep(3)
            runs = _retrain_runs(client)
        time.sleep(15)  # would a second run appear?
        runs = _retrain_runs(client)
        new = [r for r in runs if r.parameters.get("model_name") == window.model_name]
        for run in new:  # the retrain itself is the lifecycle: not needed here
            client.set_flow_run_state(run.id, Cancelled(), force=True)
    assert len(new) == 1
