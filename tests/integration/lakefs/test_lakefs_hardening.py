"""Attacks from another process on the same host, as the security review made them, and how each now fails.

Raw HTTP (httpx) where the official clients would never send such a request; the official clients
check the outcome (nothing stored, nothing created).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import lakefs
import lakefs_sdk
import pytest
from lakefs.exceptions import NotFoundException
from lakefs_sdk import BranchCreation, TagCreation
from lakefs_sdk.client import LakeFSClient

from infra.lakefs_server.runner import ServerProcess
from tests.integration.attacks import MiB, post, zeros
from tests.integration.lakefs.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, start_server

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}".encode()).decode()}


BRANCH = "uploads"  # the branch each upload test writes to (main is protected)


def objects_url(server: ServerProcess, repository: str) -> str:
    """The upload route of BRANCH, for requests the official clients would never send."""
    return f"{server.url}/api/v1/repositories/{repository}/branches/{BRANCH}/objects"


def rss_mib(server: ServerProcess) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_300_mib_body_without_credentials_is_refused_unread(lakefs_server: ServerProcess) -> None:
    url = f"{lakefs_server.url}/api/v1/repositories"
    before = rss_mib(lakefs_server)
    for headers in ({"Content-Type": "application/json", "Content-Length": str(300 * MiB)}, {}):  # declared, chunked
        answer = post(url, content=zeros(300 * MiB), headers=headers)
        assert answer is None or answer.status_code == 401
        assert rss_mib(lakefs_server) - before < 50
    # What used to get 400 (a body that is not JSON) is an authentication failure first.
    answer = httpx.post(url, content=b"not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 401 and answer.json()["message"]
    assert httpx.post(url, content=b"not json", headers=AUTH).status_code == 400  # with credentials: the body's fault


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path / "small", "--max-body-bytes", str(MiB))
    yield server
    server.stop()


def test_bodies_over_the_cap_get_413_and_store_nothing(small_server: ServerProcess, repo_name: str) -> None:
    client = lakefs.Client(host=small_server.url, username=ACCESS_KEY_ID, password=SECRET_ACCESS_KEY)
    repo = lakefs.Repository(repo_name, client=client).create(storage_namespace=f"local://{repo_name}")
    repo.branch(BRANCH).create("main")
    url = objects_url(small_server, repo_name)
    declared = post(url, params={"path": "big.bin"}, content=b"x" * (2 * MiB), headers=AUTH)
    assert declared is None or declared.status_code == 413
    if declared is not None:
        assert "limit" in declared.json()["message"]
    chunked = post(url, params={"path": "big.bin"}, content=zeros(2 * MiB, 64 * 1024), headers=AUTH)
    assert chunked is not None and chunked.status_code == 413
    with pytest.raises(NotFoundException):
        repo.branch(BRANCH).object("big.bin").stat()
    small = post(url, params={"path": "small.bin"}, content=b"x" * 1000, headers=AUTH)
    assert small is not None and small.status_code == 201  # under the cap: stored as before


def multipart(boundary: str, payload: bytes) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="f"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.parametrize("cut", ["no closing boundary", "inside the closing boundary"])
def test_a_truncated_multipart_upload_is_refused(
    lakefs_server: ServerProcess, repo: lakefs.Repository, sdk: LakeFSClient, cut: str
) -> None:
    repo.branch(BRANCH).create("main")
    boundary = "b0undary"
    body = multipart(boundary, b"A" * 5000)
    body = body[: body.rindex(b"\r\n--")] if cut == "no closing boundary" else body[:-6]
    url = objects_url(lakefs_server, repo.id)
    answer = httpx.post(
        url,
        params={"path": "cut.bin"},
        content=body,
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 400 and "closing boundary" in answer.json()["message"]
    with pytest.raises(lakefs_sdk.exceptions.NotFoundException):
        sdk.objects_api.stat_object(repo.id, BRANCH, "cut.bin")
    whole = httpx.post(
        url,
        params={"path": "whole.bin"},
        content=multipart(boundary, b"A" * 5000),
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert whole.status_code == 201 and sdk.objects_api.stat_object(repo.id, BRANCH, "whole.bin").size_bytes == 5000


ODD_NAMES = ["dev\n", "dé", "main١", "m\u0430in", "ma in", "-dev", ""]


@pytest.mark.parametrize("name", ODD_NAMES, ids=ascii)
def test_odd_branch_and_tag_names_get_400(repo: lakefs.Repository, sdk: LakeFSClient, name: str) -> None:
    with pytest.raises(lakefs_sdk.exceptions.ApiException) as branch:
        sdk.branches_api.create_branch(repo.id, BranchCreation(name=name, source="main"))
    assert branch.value.status == 400
    with pytest.raises(lakefs_sdk.exceptions.ApiException) as tag:
        sdk.tags_api.create_tag(repo.id, TagCreation(id=name, ref="main"))
    assert tag.value.status == 400
    assert sorted(b.id for b in repo.branches()) == ["main"]


def test_odd_repository_names_get_400(sdk: LakeFSClient, lakefs_server: ServerProcess) -> None:
    for name in ("repo\n", "rép", "repo١"):
        answer = httpx.post(
            f"{lakefs_server.url}/api/v1/repositories",
            json={"name": name, "storage_namespace": "local://x"},
            headers=AUTH,
        )
        assert answer.status_code == 400, name


def test_bad_prefixes_and_paths_never_get_500(lakefs_server: ServerProcess, repo: lakefs.Repository) -> None:
    base = f"{lakefs_server.url}/api/v1/repositories/{repo.id}/refs/main/objects"
    branch = repo.branch("main")
    answer = httpx.get(f"{base}/ls", params={"prefix": "\ud7ff", "delimiter": "/"}, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["results"] == []
    for raw in ("%ED%A0%80", "%FF%FE", "a%00b"):
        answer = httpx.get(f"{base}/stat?path={raw}", headers=AUTH)
        assert 400 <= answer.status_code < 500, (raw, answer.status_code)
        answer = httpx.get(f"{base}/ls?prefix={raw}", headers=AUTH)
        assert 400 <= answer.status_code < 500 or answer.status_code == 200, (raw, answer.status_code)
    assert list(branch.objects()) == []


def test_a_client_that_goes_away_mid_upload_is_one_log_line(private_server: ServerProcess, make_client) -> None:
    client = make_client(private_server)
    repo = lakefs.Repository("gone-repo", client=client).create(storage_namespace="local://gone-repo")
    repo.branch(BRANCH).create("main")
    url = objects_url(private_server, "gone-repo")

    def stalls() -> Iterator[bytes]:
        yield b"x" * 4096
        raise ConnectionAbortedError("client gives up")  # httpx drops the connection mid-body

    with pytest.raises(Exception):  # noqa: B017 - whatever httpx raises for the aborted stream
        httpx.post(url, params={"path": "gone.bin"}, content=stalls(), headers=AUTH, timeout=10)
    deadline = time.monotonic() + 10
    while "disconnect" not in private_server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = private_server.log_text()
    assert "client disconnected during POST" in log
    assert "Traceback" not in log and "unhandled error" not in log
    with pytest.raises(NotFoundException):
        repo.branch(BRANCH).object("gone.bin").stat()
