"""One lakeFS-compatible server per test session, started as a real subprocess on loopback.

Tests reach it only through the official clients: ``lakefs_sdk``, ``lakefs`` and ``lakefs-spec``.
Each test gets its own repository, so tests do not depend on each other's state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import lakefs
import lakefs_sdk
import pytest
from lakefs.client import Client
from lakefs_sdk.client import LakeFSClient
from lakefs_spec import LakeFSFileSystem

from infra.lakefs_server.runner import ServerProcess, write_credentials

# Example keys from the lakeFS/AWS documentation: obviously not secrets.
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def start_server(root: Path, *extra_args: str) -> ServerProcess:
    root.mkdir(parents=True, exist_ok=True)
    credentials = write_credentials(root / "credentials.json", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    return ServerProcess(
        data_dir=root / "data", credentials_file=credentials, log_path=root / "server.log", extra_args=list(extra_args)
    ).start()


@pytest.fixture(scope="session")
def lakefs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("lakefs-server"))
    yield server
    server.stop()


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, for tests that kill or restart it."""
    server = start_server(tmp_path / "private-server")
    yield server
    server.stop()


def client_for(server: ServerProcess) -> Client:
    return Client(host=server.url, username=ACCESS_KEY_ID, password=SECRET_ACCESS_KEY)


@pytest.fixture(scope="session")
def lakefs_client(lakefs_server: ServerProcess) -> Client:
    """The high-level ``lakefs`` client (it adds /api/v1 to the host itself)."""
    return client_for(lakefs_server)


@pytest.fixture(scope="session")
def make_client() -> Callable[[ServerProcess], Client]:
    """A high-level client for a server of a test's own."""
    return client_for


@pytest.fixture(scope="session")
def access_key_id() -> str:
    return ACCESS_KEY_ID


@pytest.fixture(scope="session")
def make_sdk(lakefs_server: ServerProcess) -> Callable[..., LakeFSClient]:
    """Build a generated ``lakefs_sdk`` client, with the server's credentials unless told otherwise."""

    def make(username: str = ACCESS_KEY_ID, password: str = SECRET_ACCESS_KEY) -> LakeFSClient:
        config = lakefs_sdk.Configuration(host=f"{lakefs_server.url}/api/v1", username=username, password=password)
        return LakeFSClient(config)

    return make


@pytest.fixture(scope="session")
def sdk(make_sdk: Callable[..., LakeFSClient]) -> LakeFSClient:
    """The generated ``lakefs_sdk`` client."""
    return make_sdk()


@pytest.fixture(scope="session")
def lakefs_fs(lakefs_server: ServerProcess) -> LakeFSFileSystem:
    return LakeFSFileSystem(host=lakefs_server.url, username=ACCESS_KEY_ID, password=SECRET_ACCESS_KEY)


@pytest.fixture(scope="session")
def storage_options(lakefs_server: ServerProcess) -> dict[str, str]:
    """What pandas passes to lakefs-spec for ``lakefs://`` paths."""
    return {"host": lakefs_server.url, "username": ACCESS_KEY_ID, "password": SECRET_ACCESS_KEY}


@pytest.fixture
def repo_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def repo(lakefs_client: Client, repo_name: str) -> lakefs.Repository:
    """A fresh repository, created as the data flow creates one: its default branch ``main`` protected
    by a branch-protection rule (the server itself protects nothing, as lakeFS)."""
    from tasks.services.lakefs import ensure_repository

    return ensure_repository(lakefs_client, repo_name, f"local://{repo_name}")


@pytest.fixture
def plain_repo(lakefs_client: Client, repo_name: str) -> lakefs.Repository:
    """A fresh repository created with the client alone, as lakeFS's own tests create theirs: no
    branch-protection rule, so ``main`` takes direct writes."""
    return lakefs.Repository(repo_name, client=lakefs_client).create(storage_namespace=f"local://{repo_name}")


@pytest.fixture
def make_branch(repo: lakefs.Repository) -> Callable[..., lakefs.Branch]:
    def make(name: str = "work", source: str = "main") -> lakefs.Branch:
        return repo.branch(name).create(source)

    return make
