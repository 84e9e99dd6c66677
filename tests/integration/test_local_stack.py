"""The local stack for real: started in a temporary state directory on free ports, used through
the official clients, then torn down. Tests run in file order; the last one stops the stack."""

from __future__ import annotations

import ipaddress
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from infra import local_stack, processes
from llmops import clients, prefect_api
from llmops.settings import Settings
from tests.conftest import running_test_stack

pytestmark = pytest.mark.integration

SERVERS = {"prefect", "mlflow", "milvus", "lakefs"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with running_test_stack(tmp_path_factory.mktemp("stack") / "state") as (settings, started):
        assert SERVERS | {local_stack.WORKER} <= set(started)
        yield settings


def _records(settings: Settings) -> dict[str, processes.ProcessRecord]:
    out = {}
    for service in local_stack.services(settings):
        record = processes.ProcessRecord.load(service.pidfile(settings))
        if record is not None:
            out[service.name] = record
    return out


def test_ui_pages_and_health_endpoints_answer(stack: Settings) -> None:
    html = {"Accept": "text/html"}
    prefect_ui = httpx.get(stack.prefect.base_url + "/", headers=html, follow_redirects=True, timeout=10)
    assert prefect_ui.status_code == 200 and "<html" in prefect_ui.text.lower()
    assert httpx.get(stack.prefect.api_url + "/health", timeout=10).json() is True
    # The MLflow UI asks for the generated admin password (the browser's basic-auth prompt).
    assert httpx.get(stack.mlflow.base_url + "/", timeout=10).status_code == 401
    assert stack.mlflow.username and stack.mlflow.password is not None
    login = (stack.mlflow.username, stack.mlflow.password.get_secret_value())
    mlflow_ui = httpx.get(stack.mlflow.base_url + "/", auth=login, timeout=10)
    assert mlflow_ui.status_code == 200 and "mlflow" in mlflow_ui.text.lower()
    assert httpx.get(stack.mlflow.base_url + "/health", timeout=10).text.strip() == "OK"


def _is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    mapped = getattr(addr, "ipv4_mapped", None)  # Milvus Lite listens on ::ffff:127.0.0.1
    return (mapped or addr).is_loopback


def test_every_service_binds_to_loopback_only(stack: Settings) -> None:
    ports = {stack.prefect.port, stack.mlflow.port, stack.milvus.port, stack.lakefs.port}
    ours = {r.pid for r in _records(stack).values()}
    family = set(ours)
    for pid in ours:
        family |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
    listening = [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.pid in family]
    assert {c.laddr.port for c in listening} >= ports
    assert all(_is_loopback(c.laddr.ip) for c in listening), listening


def test_second_up_is_a_no_op(stack: Settings) -> None:
    before = _records(stack)
    assert local_stack.up(stack) == []
    assert _records(stack) == before


def test_a_flow_run_an_mlflow_metric_and_a_milvus_search_through_the_official_clients(stack: Settings) -> None:

    from flows.smoke import smoke_flow

    with prefect_api.prefect_context(stack):
        state = smoke_flow(return_state=True)
    report = state.result()
    with prefect_api.prefect_client(stack) as prefect:
        run = prefect.read_flow_run(state.state_details.flow_run_id)
    assert run.state is not None and run.state.is_completed()

    metric = clients.mlflow_client(stack).get_run(report.mlflow_run_id).data.metrics["smoke_metric"]
    assert metric == pytest.approx(report.mlflow_metric)
    assert report.milvus_hit_id == 3

    milvus = clients.milvus_client(stack)
    try:
        milvus.create_collection("probe", dimension=4)
        milvus.insert("probe", [{"id": i, "vector": [float(i == j) for j in range(4)]} for i in range(4)])
        hits = milvus.search("probe", data=[[0.0, 0.0, 1.0, 0.0]], limit=2)
        assert hits[0][0]["id"] == 2
    finally:
        milvus.drop_collection("probe")
        milvus.close()


def test_lakefs_credentials_are_private_and_required(stack: Settings) -> None:
    from llmops.settings import credentials_path

    path = credentials_path(stack.storage)
    assert path.stat().st_mode & 0o777 == 0o600
    assert stack.lakefs.access_key_id and stack.lakefs.access_key_id.startswith("AKIA")
    client = clients.lakefs_client(stack)
    import lakefs

    repo = lakefs.Repository("stack-probe", client=client).create(
        storage_namespace="local://stack-probe", exist_ok=True
    )
    assert repo.properties.default_branch == "main"
    assert httpx.get(stack.lakefs.api_url + "/repositories", timeout=10).status_code == 401
    assert httpx.get(stack.lakefs.base_url + "/_health", timeout=10).status_code == 200


def test_the_worker_is_online_in_its_work_pool(stack: Settings) -> None:

    with prefect_api.prefect_client(stack) as prefect:
        pool = prefect.read_work_pool(stack.prefect.work_pool)
        workers = prefect.read_workers_for_work_pool(stack.prefect.work_pool)
    assert pool.type == "process"
    assert [str(w.status.value) for w in workers] == ["ONLINE"]


def test_a_crashed_service_leaves_a_stale_pid_file_that_up_cleans_and_restarts(stack: Settings) -> None:
    milvus_before = _records(stack)["milvus"]
    os.kill(milvus_before.pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(milvus_before.pid)], timeout=10)
    rows = {r.name: r for r in local_stack.status(stack)}
    assert rows["milvus"].state == "stopped" and "stale" in rows["milvus"].note
    assert rows["prefect"].healthy and rows["mlflow"].healthy
    assert local_stack.up(stack) == ["milvus"]
    assert _records(stack)["milvus"].pid != milvus_before.pid
    assert {r.name: r.healthy for r in local_stack.status(stack)}["milvus"]


def test_down_leaves_no_process_of_ours_behind(stack: Settings) -> None:
    records = _records(stack)
    family = []
    for record in records.values():
        root = psutil.Process(record.pid)
        family += [root, *root.children(recursive=True)]
    assert len(family) >= 4
    stopped = local_stack.down(stack)
    assert set(stopped) == set(records)
    survivors = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == []
    assert not list(Path(stack.storage.state_dir, "run").glob("*.pid"))
    assert local_stack.down(stack) == []
