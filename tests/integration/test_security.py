"""The attacks of the security review, made against the running test stack from this (another) process.

Each service the stack starts refuses a caller without its credentials; the same request with them
goes through, so each refusal is the credentials' doing. The state directory is the owner's only.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path

import httpx
import pytest

from llmops.settings import Settings
from tests.integration.attacks import MiB, post, zeros

pytestmark = pytest.mark.integration


def prefect_auth(settings: Settings) -> dict[str, str]:
    import base64

    assert settings.prefect.auth_string is not None
    token = base64.b64encode(settings.prefect.auth_string.get_secret_value().encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_an_unauthenticated_deployment_and_run_execute_nothing(running_stack: Settings, tmp_path: Path) -> None:
    """The review's attack: a deployment whose pull step runs a shell command, then a run of it."""
    api = running_stack.prefect.api_url
    marker = tmp_path / "pwned"
    flow = httpx.post(f"{api}/flows/", json={"name": f"attack-{uuid.uuid4().hex[:6]}"})
    assert flow.status_code == 401
    with_credentials = httpx.post(
        f"{api}/flows/", json={"name": f"attack-{uuid.uuid4().hex[:6]}"}, headers=prefect_auth(running_stack)
    )
    assert with_credentials.status_code in (200, 201)  # the same call, authenticated, is accepted
    deployment = {
        "name": "attack",
        "flow_id": with_credentials.json()["id"],
        "work_pool_name": running_stack.prefect.work_pool,
        "entrypoint": "flows/smoke.py:smoke_flow",
        "pull_steps": [{"prefect.deployments.steps.run_shell_script": {"script": f"touch {marker}"}}],
    }
    created = httpx.post(f"{api}/deployments/", json=deployment)
    assert created.status_code == 401
    for path in ("/deployments/filter", "/flow_runs/filter", "/work_pools/filter", "/admin/version"):
        assert httpx.post(f"{api}{path}", json={}).status_code == 401 or httpx.get(f"{api}{path}").status_code == 401
    # A run of any existing deployment, unauthenticated.
    deployments = httpx.post(f"{api}/deployments/filter", json={}, headers=prefect_auth(running_stack)).json()
    for target in deployments[:3]:
        assert httpx.post(f"{api}/deployments/{target['id']}/create_flow_run", json={}).status_code == 401
    time.sleep(5)  # a worker polls every few seconds: had anything been scheduled, it would have run by now
    assert not marker.exists()
    # Basic auth with the wrong password, and a bearer token, are refused alike.
    for header in ("Basic YWRtaW46d3Jvbmc=", "Bearer abc", "Basic"):
        assert httpx.post(f"{api}/flows/filter", json={}, headers={"Authorization": header}).status_code == 401
    assert httpx.get(f"{api}/health").status_code == 200  # the health probe stays open


def test_the_prefect_api_answers_cors_for_its_own_ui_only(running_stack: Settings) -> None:
    api, ui = running_stack.prefect.api_url, running_stack.prefect.base_url
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    evil = httpx.options(f"{api}/flows/filter", headers={"Origin": "http://evil.example", **preflight})
    assert evil.headers.get("access-control-allow-origin") not in ("*", "http://evil.example")
    own = httpx.options(f"{api}/flows/filter", headers={"Origin": ui, **preflight})
    assert own.headers.get("access-control-allow-origin") == ui


def test_mlflow_needs_its_credentials(running_stack: Settings) -> None:
    base = running_stack.mlflow.base_url
    search = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
    assert httpx.get(search).status_code == 401
    assert httpx.get(search, auth=("admin", "wrong")).status_code == 401
    assert running_stack.mlflow.username and running_stack.mlflow.password is not None
    good = (running_stack.mlflow.username, running_stack.mlflow.password.get_secret_value())
    assert httpx.get(search, auth=good).status_code == 200
    assert httpx.post(f"{base}/api/2.0/mlflow/registered-models/create", json={"name": "x"}).status_code == 401
    assert httpx.get(f"{base}/health").status_code == 200


def test_lakefs_needs_its_credentials(running_stack: Settings) -> None:
    api = running_stack.lakefs.api_url
    assert httpx.get(f"{api}/repositories").status_code == 401
    assert httpx.post(f"{api}/repositories", content=b"not json").status_code == 401
    key = running_stack.lakefs.access_key_id
    assert key and running_stack.lakefs.secret_access_key is not None
    good = (key, running_stack.lakefs.secret_access_key.get_secret_value())
    assert httpx.get(f"{api}/repositories", auth=good).status_code == 200


def test_the_serving_endpoint_started_by_up_needs_its_key(running_stack: Settings) -> None:
    from llmops.settings import load_serve_settings

    serve = load_serve_settings()
    assert serve.api_key is not None and serve.api_key.get_secret_value().startswith("sk-llmops-")
    body = {"model": serve.model, "messages": [{"role": "user", "content": "hello"}]}
    assert httpx.get(f"{serve.api_url}/models").status_code == 401
    assert httpx.post(f"{serve.api_url}/chat/completions", json=body).status_code == 401
    wrong = {"Authorization": "Bearer sk-llmops-wrong"}
    refused = httpx.post(f"{serve.api_url}/chat/completions", json=body, headers=wrong)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    good = {"Authorization": f"Bearer {serve.api_key.get_secret_value()}"}
    assert httpx.get(f"{serve.api_url}/models", headers=good).status_code == 200
    assert httpx.get(f"{serve.base_url}/health").json()["status"] == "ok"


def test_the_state_directory_is_the_owners_only(running_stack: Settings) -> None:
    root = running_stack.storage.state_dir
    seen = 0
    for directory, _dirs, files in os.walk(root):
        for path in (Path(directory), *(Path(directory) / f for f in files)):
            if path.is_symlink() or not path.exists():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
            assert not mode & 0o077, f"{path} is {mode:04o}"
            seen += 1
    assert seen > 20  # databases, credentials, logs, pid files, blobs: not an empty directory
    for service in ("lakefs", "prefect", "mlflow"):
        path = root / service / "credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_milvus_needs_its_token(running_stack: Settings) -> None:
    """A raw gRPC call, as any local process can make it, with no token, a wrong one, and the right one."""
    import base64

    import grpc
    from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

    from llmops import clients

    target = f"{running_stack.milvus.host}:{running_stack.milvus.port}"
    assert running_stack.milvus.token is not None
    right = base64.b64encode(running_stack.milvus.token.get_secret_value().encode()).decode()
    with grpc.insecure_channel(target) as channel:
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        for metadata in ((), (("authorization", base64.b64encode(b"root:Milvus").decode()),)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(), metadata=metadata, timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = stub.ShowCollections(
            milvus_pb2.ShowCollectionsRequest(), metadata=(("authorization", right),), timeout=10
        )
        assert answer.status.code == 0
    assert isinstance(clients.milvus_client(running_stack).list_collections(), list)  # the stack's own client


def test_a_300_mib_body_without_credentials_leaves_the_stacks_lakefs_flat(running_stack: Settings) -> None:
    import psutil

    from infra import processes

    record, _ = processes.live_record(running_stack.storage.state_dir / "run" / "lakefs.pid")
    assert record is not None
    server = psutil.Process(record.pid)
    before = server.memory_info().rss

    answer = post(f"{running_stack.lakefs.api_url}/repositories", content=zeros(300 * MiB))
    assert answer is None or answer.status_code == 401
    assert server.memory_info().rss - before < 50 * MiB
