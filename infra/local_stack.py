"""The embedded local stack: Prefect server and worker, MLflow, Milvus Lite, the lakeFS-compatible server.

`up` starts whatever of it is not already running (and healthy), waits for every health check,
and makes sure the work pool exists; running it again is a no-op. `down` stops only processes
whose pid files we wrote. Every service binds to 127.0.0.1 and keeps its state, log and pid file
under the state directory:

    <state>/<service>/        data (databases, artifacts, collections, objects)
    <state>/logs/<service>.log
    <state>/run/<service>.pid
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra import processes
from llmops.errors import PortInUseError, ServiceStartError, StackError
from llmops.settings import Settings, credentials_path

WORKER = "worker"
_POLL_S = 0.5


@dataclass(frozen=True)
class Service:
    """One process of the stack: how to start it and how to tell that it works."""

    name: str
    title: str
    url: str  # what a user opens (UI) or connects to
    port: int | None
    port_setting: str | None
    command: list[str]
    health: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    needs: str | None = None  # a service that must be healthy before this one starts

    def pidfile(self, settings: Settings) -> Path:
        return settings.storage.state_dir / "run" / f"{self.name}.pid"

    def log(self, settings: Settings) -> Path:
        return settings.storage.state_dir / "logs" / f"{self.name}.log"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    title: str
    url: str
    state: str  # running | stopped | external | unavailable
    healthy: bool
    pid: int | None = None
    note: str = ""


def lakefs_server_available() -> bool:
    """The lakeFS-compatible server ships in infra/lakefs_server once that component exists."""
    try:
        return importlib.util.find_spec("infra.lakefs_server.__main__") is not None
    except ModuleNotFoundError:  # the package itself is missing
        return False


def _http_ok(url: str, timeout_s: float = 2.0, **kwargs: object) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=timeout_s, **kwargs).status_code == 200  # type: ignore[arg-type]
        except httpx.HTTPError:
            return False

    return check


def _milvus_ok(settings: Settings) -> Callable[[], bool]:
    def check() -> bool:
        from pymilvus.exceptions import MilvusException

        from llmops.clients import milvus_client

        try:
            client = milvus_client(settings, timeout_s=2)
        except MilvusException:
            return False
        try:
            client.list_collections(timeout=2)
            return True
        except MilvusException:
            return False
        finally:
            client.close()

    return check


def _worker_ok(settings: Settings) -> Callable[[], bool]:
    def check() -> bool:
        from prefect.client.orchestration import SyncPrefectClient

        try:
            with SyncPrefectClient(settings.prefect.api_url) as client:
                workers = client.read_workers_for_work_pool(settings.prefect.work_pool)
        except (httpx.HTTPError, RuntimeError, ValueError):
            return False
        return any(str(getattr(w.status, "value", w.status)).upper() == "ONLINE" for w in workers)

    return check


def base_env(settings: Settings) -> dict[str, str]:
    """Environment for every process of the stack and for flows: where each service is."""
    env = dict(os.environ)
    env.update(
        {
            "LLMOPS_PROFILE": settings.profile,
            "LLMOPS_STATE_DIR": str(settings.storage.state_dir),
            "LLMOPS_PREFECT_PORT": str(settings.prefect.port),
            "LLMOPS_MLFLOW_PORT": str(settings.mlflow.port),
            "LLMOPS_LAKEFS_PORT": str(settings.lakefs.port),
            "LLMOPS_MILVUS_PORT": str(settings.milvus.port),
            "LLMOPS_PREFECT_WORK_POOL": settings.prefect.work_pool,
            "PREFECT_HOME": str(settings.storage.service_dir("prefect")),
            "PREFECT_API_URL": settings.prefect.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "MLFLOW_TRACKING_URI": settings.mlflow.base_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    # The local stack has no hub access: models are the embedded default or local paths.
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def services(settings: Settings) -> list[Service]:
    """The managed services of `settings`, in start order (the worker comes last)."""
    bin_dir = Path(sys.executable).parent
    state = settings.storage
    out: list[Service] = []
    if settings.prefect.managed:
        p = settings.prefect
        db = state.service_dir("prefect") / "prefect.db"
        out.append(
            Service(
                name="prefect",
                title="Prefect server",
                url=p.base_url,
                port=p.port,
                port_setting="LLMOPS_PREFECT_PORT",
                command=[
                    str(bin_dir / "prefect"),
                    "server",
                    "start",
                    "--host",
                    p.host,
                    "--port",
                    str(p.port),
                    "--analytics-off",
                ],
                env={
                    "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{db}",
                    "PREFECT_UI_API_URL": p.api_url,
                },
                health=_http_ok(f"{p.api_url}/health"),
            )
        )
    if settings.mlflow.managed:
        m = settings.mlflow
        mdir = state.service_dir("mlflow")
        out.append(
            Service(
                name="mlflow",
                title="MLflow tracking server",
                url=m.base_url,
                port=m.port,
                port_setting="LLMOPS_MLFLOW_PORT",
                command=[
                    str(bin_dir / "mlflow"),
                    "server",
                    "--host",
                    m.host,
                    "--port",
                    str(m.port),
                    "--workers",
                    "1",
                    "--backend-store-uri",
                    f"sqlite:///{mdir / 'mlflow.db'}",
                    "--artifacts-destination",
                    str(mdir / "artifacts"),
                ],
                health=_http_ok(f"{m.base_url}/health"),
            )
        )
    if settings.milvus.managed:
        v = settings.milvus
        out.append(
            Service(
                name="milvus",
                title="Milvus Lite (server mode)",
                url=v.base_url,
                port=v.port,
                port_setting="LLMOPS_MILVUS_PORT",
                command=[
                    str(bin_dir / "milvus-lite"),
                    "server",
                    "--data-dir",
                    str(state.service_dir("milvus")),
                    "--host",
                    v.host,
                    "--port",
                    str(v.port),
                ],
                health=_milvus_ok(settings),
            )
        )
    if settings.lakefs.managed and lakefs_server_available():
        lk = settings.lakefs
        out.append(
            Service(
                name="lakefs",
                title="lakeFS-compatible server",
                url=lk.api_url,
                port=lk.port,
                port_setting="LLMOPS_LAKEFS_PORT",
                command=[
                    sys.executable,
                    "-m",
                    "infra.lakefs_server",
                    "--host",
                    lk.host,
                    "--port",
                    str(lk.port),
                    "--data-dir",
                    str(state.service_dir("lakefs")),
                    "--credentials-file",
                    str(credentials_path(state)),
                ],
                health=_http_ok(f"{lk.base_url}/_health"),
            )
        )
    if settings.prefect.managed:
        out.append(
            Service(
                name=WORKER,
                title=f"Prefect worker (pool {settings.prefect.work_pool})",
                url=f"{settings.prefect.base_url}/work-pools/work-pool/{settings.prefect.work_pool}",
                port=None,
                port_setting=None,
                command=[
                    str(bin_dir / "prefect"),
                    "worker",
                    "start",
                    "--pool",
                    settings.prefect.work_pool,
                    "--type",
                    "process",
                    "--name",
                    f"{settings.prefect.work_pool}-worker",
                ],
                health=_worker_ok(settings),
                needs="prefect",
            )
        )
    return out


def deploy(settings: Settings, project_dir: Path, timeout_s: float = 300.0) -> None:
    """Register every deployment of prefect.yaml with the Prefect server (idempotent)."""
    import subprocess

    bin_dir = Path(sys.executable).parent
    # The build step of prefect.yaml (deployments.profiles.load_profile) imports from the project deployed.
    env = base_env(settings) | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(project_dir), os.environ.get("PYTHONPATH")]))
    }
    result = subprocess.run(
        [str(bin_dir / "prefect"), "--no-prompt", "deploy", "--all"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if result.returncode != 0:
        raise StackError(
            f"prefect deploy failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}"
        )


def ensure_lakefs_credentials(settings: Settings) -> Path:
    """Create the local lakeFS access key on first use, readable by the owner only (0600)."""
    path = credentials_path(settings.storage)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    alphabet = string.ascii_uppercase + string.digits
    creds = {
        # lakeFS-shaped keys: AKIA + 16 characters, and a 40-character secret
        "access_key_id": "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)),
        "secret_access_key": secrets.token_urlsafe(30)[:40],
    }
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f)
    os.replace(path.with_suffix(".tmp"), path)
    return path


def ensure_work_pool(settings: Settings) -> bool:
    """Create the process work pool if it is missing; True if it was created."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with SyncPrefectClient(settings.prefect.api_url) as client:
        try:
            client.read_work_pool(settings.prefect.work_pool)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=settings.prefect.work_pool, type="process"))
            return True


def _check_port(service: Service) -> None:
    if service.port is not None and not processes.port_is_free("127.0.0.1", service.port):
        raise PortInUseError(service.title, service.port, service.port_setting or "")


def _start(service: Service, settings: Settings) -> processes.ProcessRecord:
    _check_port(service)
    env = base_env(settings) | service.env
    return processes.spawn(
        service.command,
        env=env,
        log_path=service.log(settings),
        pidfile=service.pidfile(settings),
        cwd=settings.storage.state_dir,
    )


def up(settings: Settings, echo: Callable[[str], None] = print) -> list[str]:
    """Start what is not running, wait until everything is healthy; return the names started."""
    settings.storage.state_dir.mkdir(parents=True, exist_ok=True)
    all_services = services(settings)
    if not all_services:
        echo(f"profile {settings.profile!r} manages no local service; `llmops status` checks the external ones")
        return []
    if settings.lakefs.managed:
        if lakefs_server_available():
            ensure_lakefs_credentials(settings)
        else:
            echo("  lakeFS-compatible server            not available in this version (skipped)")

    # Find stale pid files and taken ports before starting anything, so a bad port leaves no
    # half-started stack behind.
    ready: set[str] = set()
    todo: list[Service] = []
    for service in all_services:
        record, stale = processes.live_record(service.pidfile(settings))
        if stale:
            echo(f"  {service.title:<34} stale pid file removed (the process had died)")
        if record is not None:
            echo(f"  {service.title:<34} already running (pid {record.pid})  {service.url}")
            ready.add(service.name)
        else:
            _check_port(service)
            todo.append(service)
    if settings.prefect.managed and WORKER in ready:
        ensure_work_pool(settings)
    _start_when_ready(todo, ready, settings, echo)
    return [s.name for s in todo]


def _start_when_ready(todo: list[Service], ready: set[str], settings: Settings, echo: Callable[[str], None]) -> None:
    """Start each service once what it needs is healthy, all others at once; poll all health checks
    together (the servers take 10-20 s each) and fail on an exit or a timeout."""
    todo = list(todo)
    pending: dict[str, tuple[Service, processes.ProcessRecord]] = {}
    t0 = time.monotonic()
    deadline = t0 + settings.storage.startup_timeout_s
    while todo or pending:
        for service in [s for s in todo if s.needs is None or s.needs in ready]:
            if service.name == WORKER and ensure_work_pool(settings):
                echo(f"  work pool {settings.prefect.work_pool!r} created (type process)")
            pending[service.name] = (service, _start(service, settings))
            todo.remove(service)
        if not pending:
            raise StackError(f"cannot start {[s.name for s in todo]}: what they need is not managed here")
        for name, (service, record) in list(pending.items()):
            if not processes.is_running(record):
                service.pidfile(settings).unlink(missing_ok=True)
                raise ServiceStartError(service.title, "the process exited", processes.log_tail(service.log(settings)))
            if service.health():
                echo(f"  {service.title:<34} healthy after {time.monotonic() - t0:4.1f}s  {service.url}")
                ready.add(name)
                del pending[name]
        if pending and time.monotonic() > deadline:
            service, _ = next(iter(pending.values()))
            raise ServiceStartError(
                service.title,
                f"no healthy answer within {settings.storage.startup_timeout_s:.0f}s "
                "(raise LLMOPS_STARTUP_TIMEOUT_S on a slow machine)",
                processes.log_tail(service.log(settings)),
            )
        if pending:
            time.sleep(_POLL_S)


def down(settings: Settings, echo: Callable[[str], None] = print) -> list[str]:
    """Stop the processes we started (all at once); return the names stopped."""
    live: list[tuple[Service, processes.ProcessRecord]] = []
    for service in services(settings):
        record, stale = processes.live_record(service.pidfile(settings))
        if stale:
            echo(f"  {service.title:<34} was not running (stale pid file removed)")
        if record is not None:
            live.append((service, record))
    processes.stop_all([record for _, record in live])
    for service, record in live:
        if processes.is_running(record):
            raise StackError(f"{service.title} (pid {record.pid}) did not stop; kill it by hand")
        service.pidfile(settings).unlink(missing_ok=True)
        echo(f"  {service.title:<34} stopped (pid {record.pid})")
    return [service.name for service, _ in live]


def status(settings: Settings) -> list[ServiceStatus]:
    """Each service, its URL, whether it runs and answers its health check."""
    out: list[ServiceStatus] = []
    managed = {s.name: s for s in services(settings)}
    for service in managed.values():
        record, stale = processes.live_record(service.pidfile(settings))
        note = "stale pid file removed" if stale else ""
        if record is None:
            out.append(ServiceStatus(service.name, service.title, service.url, "stopped", False, note=note))
        else:
            out.append(
                ServiceStatus(service.name, service.title, service.url, "running", service.health(), pid=record.pid)
            )
    if settings.lakefs.managed and not lakefs_server_available():
        out.append(
            ServiceStatus(
                "lakefs",
                "lakeFS-compatible server",
                settings.lakefs.api_url,
                "unavailable",
                False,
                note="not available in this version",
            )
        )
    for name, title, url, check in _external_checks(settings):
        out.append(ServiceStatus(name, title, url, "external", check()))
    return out


def _external_checks(settings: Settings) -> list[tuple[str, str, str, Callable[[], bool]]]:
    """Health checks for services this profile reaches but does not start."""
    checks: list[tuple[str, str, str, Callable[[], bool]]] = []
    if not settings.prefect.managed:
        checks.append(
            ("prefect", "Prefect API", settings.prefect.api_url, _http_ok(f"{settings.prefect.api_url}/health"))
        )
    if not settings.mlflow.managed:
        checks.append(
            (
                "mlflow",
                "MLflow tracking server",
                settings.mlflow.base_url,
                _http_ok(f"{settings.mlflow.base_url}/health"),
            )
        )
    if not settings.lakefs.managed:
        checks.append(("lakefs", "lakeFS", settings.lakefs.api_url, _http_ok(f"{settings.lakefs.api_url}/healthcheck")))
    if not settings.milvus.managed:
        checks.append(("milvus", "Milvus", settings.milvus.base_url, _milvus_ok(settings)))
    return checks
