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
import itertools
import json
import os
import secrets
import string
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra import processes
from llmops import clients, prefect_api
from llmops.errors import PortInUseError, ServiceStartError, StackError
from llmops.settings import Settings, credentials_path, load_serve_settings, serve_key_path

WORKER = "worker"
MLFLOW_AUTH_CONFIG = "basic_auth.ini"
MLFLOW_FLASK_SECRET = "flask_secret_key"
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
        try:
            with prefect_api.prefect_client(settings) as client:
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
            "LLMOPS_SERVE_PORT": str(load_serve_settings().port),
            "LLMOPS_PREFECT_WORK_POOL": settings.prefect.work_pool,
            "PREFECT_HOME": str(settings.storage.service_dir("prefect")),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Where Prefect and MLflow are, with their credentials: for the worker, its flows and their clients.
    env.update(clients.process_env(settings))
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
                    # Every API call but the health check needs the generated 'user:password'; the UI asks for it.
                    **(
                        {"PREFECT_SERVER_API_AUTH_STRING": p.auth_string.get_secret_value()}
                        if p.auth_string is not None
                        else {}
                    ),
                    # Browsers may call the API from the UI's own page only (not from any site a user visits).
                    "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": p.base_url,
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
                    # Basic authentication (mlflow[auth]): the admin user and its password come from
                    # `ensure_credentials`; every route but /health needs them.
                    "--app-name",
                    "basic-auth",
                ],
                env={
                    "MLFLOW_AUTH_CONFIG_PATH": str(mdir / MLFLOW_AUTH_CONFIG),
                    **(
                        {"MLFLOW_FLASK_SERVER_SECRET_KEY": (mdir / MLFLOW_FLASK_SECRET).read_text()}
                        if (mdir / MLFLOW_FLASK_SECRET).is_file()
                        else {}
                    ),
                    **({"MLFLOW_AUTH_ADMIN_PASSWORD": m.password.get_secret_value()} if m.password else {}),
                },
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
                # Milvus Lite's engine behind a gRPC server that requires the generated token.
                command=[
                    sys.executable,
                    "-m",
                    "infra.milvus_server",
                    "--data-dir",
                    str(state.service_dir("milvus")),
                    "--host",
                    v.host,
                    "--port",
                    str(v.port),
                    "--credentials-file",
                    str(credentials_path(state, "milvus-auth")),
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
    serve = load_serve_settings()
    if serve.managed and settings.mlflow.managed and settings.milvus.managed:
        out.append(
            Service(
                name="serve",
                title="Serving endpoint (OpenAI API)",
                url=serve.api_url,
                port=serve.port,
                port_setting="LLMOPS_SERVE_PORT",
                # the champion is loaded on the first request (a 503 until a lifecycle has promoted one)
                command=[sys.executable, "-m", "llmops.cli", "serve", "--host", serve.host, "--port", str(serve.port)],
                health=_http_ok(f"{serve.base_url}/health"),
                needs="mlflow",
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


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable and writable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _token(n: int = 32) -> str:
    return secrets.token_urlsafe(n)


def _lakefs_key() -> dict[str, str]:
    # lakeFS-shaped keys: AKIA + 16 characters, and a 40-character secret
    alphabet = string.ascii_uppercase + string.digits
    return {
        "access_key_id": "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)),
        "secret_access_key": _token(30)[:40],
    }


# service setting name -> (file under the state directory, what a new one holds)
_GENERATED: dict[str, tuple[str, Callable[[], dict[str, str]]]] = {
    "lakefs": ("lakefs", _lakefs_key),
    "prefect": ("prefect", lambda: {"auth_string": f"admin:{_token()}"}),
    "mlflow": ("mlflow", lambda: {"username": "admin", "password": _token()}),
    "milvus": ("milvus-auth", lambda: {"token": f"root:{_token()}"}),
}


def ensure_credentials(settings: Settings) -> None:
    """Create each managed service's credentials on first use (0600 files in the state directory).

    Credentials set in the environment win over the generated ones (settings read both); existing
    files are never rewritten, so a restart keeps them. Rotating one: `llmops down`, delete its file,
    `llmops up` (MLflow's differs, see SECURITY.md).
    """
    storage = settings.storage
    for service, (directory, generate) in _GENERATED.items():
        path = credentials_path(storage, directory)
        if getattr(settings, service).managed and not path.is_file():
            _write_private(path, json.dumps(generate()))
    if not serve_key_path(storage).is_file():  # the bearer token of `llmops serve`
        _write_private(serve_key_path(storage), json.dumps({"api_key": f"sk-llmops-{_token()}"}))
    if settings.mlflow.managed:
        mdir = storage.service_dir("mlflow")
        if not (mdir / MLFLOW_FLASK_SECRET).is_file():  # signs the UI's CSRF tokens; MLflow will not start without
            _write_private(mdir / MLFLOW_FLASK_SECRET, _token())
        _write_private(
            mdir / MLFLOW_AUTH_CONFIG,
            "[mlflow]\n"
            "default_permission = NO_PERMISSIONS\n"
            f"database_uri = sqlite:///{mdir / 'basic_auth.db'}\n"
            "admin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "grant_default_workspace_access = false\n",
        )


def _exposed(root: Path) -> Iterator[tuple[Path, int]]:
    """(path, mode) of each directory and file under `root` that another local user could use."""
    for directory, _dirs, files in os.walk(root):
        for path in (Path(directory), *(Path(directory) / f for f in files)):
            if path.is_symlink():
                continue
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                yield path, mode


def secure_state_dir(settings: Settings) -> None:
    """Make the state directory private (0700 directories, 0600 files) where it is not already.

    What the stack writes is private already (the CLI and `up` set a 0077 umask); this tightens a
    state directory made before that, or by hand.
    """
    root = settings.storage.state_dir
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path, _mode in list(_exposed(root)):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)


def state_dir_problems(settings: Settings, limit: int = 5) -> list[str]:
    """Paths under the state directory that another local user could read (at most `limit`)."""
    root = settings.storage.state_dir
    if not root.exists():
        return []
    return [f"{path} is {mode:04o}" for path, mode in itertools.islice(_exposed(root), limit)]


def ensure_work_pool(settings: Settings) -> bool:
    """Create the process work pool if it is missing; True if it was created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with prefect_api.prefect_client(settings) as client:
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
    """Start what is not running, wait until everything is healthy; return the names started.

    Credentials are created on the first call (`ensure_credentials`); load the settings again
    afterwards so that clients send them.
    """
    os.umask(0o077)  # everything the stack writes is the owner's only
    secure_state_dir(settings)
    ensure_credentials(settings)
    settings = settings.with_local_credentials()  # what the services start with, and what clients send
    all_services = services(settings)
    if not all_services:
        echo(f"profile {settings.profile!r} manages no local service; `llmops status` checks the external ones")
        return []
    if settings.lakefs.managed and not lakefs_server_available():
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
