"""Settings for every service, read from the environment and an optional profile file.

One small class per service, each with its own `LLMOPS_<SERVICE>_` prefix. Nothing is read at
import time: `load_settings()` builds them when a command or flow starts.

Precedence, highest first: environment variables, the profile file, the defaults below (which are
the embedded local stack). The profile is chosen with `LLMOPS_PROFILE`: a name shipped in
`infra/profiles/<name>.env` (`local`, the default, and `production`) or a path to a `.env` file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent.parent / "infra" / "profiles"
DEFAULT_PROFILE = "local"
LOOPBACK = "127.0.0.1"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file_encoding="utf-8")


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding prefect.yaml, else `start` itself."""
    start = (start or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if (candidate / "prefect.yaml").is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    return start


class StorageSettings(BaseSettings):
    """Where the local stack keeps its databases, artifacts, logs and pid files."""

    model_config = _config("LLMOPS_")

    state_dir: Path = Field(
        default_factory=lambda: find_project_root() / ".llmops",
        description="One directory for all local state; default .llmops/ in the project.",
    )
    startup_timeout_s: float = Field(
        120.0, gt=0, description="How long `llmops up` waits for each service's health check."
    )

    def model_post_init(self, _context: Any) -> None:
        self.state_dir = self.state_dir.expanduser().resolve()

    def service_dir(self, name: str) -> Path:
        return self.state_dir / name


class _ServiceSettings(BaseSettings):
    """Shared shape: a service either started by `llmops up` (managed) or reached at a URL."""

    managed: bool = Field(True, description="Started and stopped by `llmops up` / `llmops down`.")
    host: str = Field(LOOPBACK, description="Bind address of a managed service (loopback only).")
    port: int
    url: AnyHttpUrl | None = Field(None, description="Base URL of an external service; overrides host/port.")
    allow_insecure_http: bool = Field(
        False,
        description="Accept a plain http:// URL for an external service that gets credentials "
        "(they would cross the network in clear text); for a TLS-terminating proxy on the same host only.",
    )

    @property
    def base_url(self) -> str:
        if self.url is not None:
            return str(self.url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    def has_credentials(self) -> bool:
        """Whether this service gets credentials: in its URL or in its own settings."""
        return bool(self.url is not None and (self.url.username or self.url.password))

    def model_post_init(self, _context: Any) -> None:
        prefix = self.model_config.get("env_prefix", "")
        if self.managed and self.host != LOOPBACK:
            raise ConfigError(
                f"{prefix}HOST={self.host!r}: managed services bind to {LOOPBACK} only; "
                f"to reach a server elsewhere set {prefix}MANAGED=false and {prefix}URL"
            )
        if self.managed and self.url is not None and self.url.host not in _LOOPBACK_HOSTS:
            # The local stack's generated credentials would be sent to that server.
            raise ConfigError(
                f"{prefix}URL={mask_url(str(self.url))!r} with {prefix}MANAGED=true: a managed service runs on "
                f"{LOOPBACK}; for a server elsewhere set {prefix}MANAGED=false (and its own credentials)"
            )
        if (
            not self.managed
            and self.url is not None
            and self.url.scheme == "http"
            and self.has_credentials()
            and not self.allow_insecure_http
        ):
            raise ConfigError(
                f"{prefix}URL={mask_url(str(self.url))!r} is plain http:// and credentials go with it: use "
                f"https:// (a TLS-terminating proxy), or set {prefix}ALLOW_INSECURE_HTTP=true if the hop is private"
            )

    def missing_credentials(self) -> list[str]:
        """The settings an external server needs and that are not set (names of environment variables)."""
        return []


class PrefectSettings(_ServiceSettings):
    """Prefect server (API and UI) and the work pool our deployments run on."""

    model_config = _config("LLMOPS_PREFECT_")

    port: int = Field(4200, ge=1, le=65535)
    api_key: SecretStr | None = Field(None, description="Prefect Cloud API key (production only).")
    auth_string: SecretStr | None = Field(
        None,
        description="'user:password' of a server started with PREFECT_SERVER_API_AUTH_STRING; the local "
        "stack generates its own on the first `llmops up`.",
    )
    work_pool: str = Field("llmops-local", min_length=1, description="Process work pool of the worker.")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def has_credentials(self) -> bool:
        return super().has_credentials() or self.api_key is not None or self.auth_string is not None

    def missing_credentials(self) -> list[str]:
        return [] if self.api_key or self.auth_string else ["LLMOPS_PREFECT_AUTH_STRING (or LLMOPS_PREFECT_API_KEY)"]


class MLflowSettings(_ServiceSettings):
    """MLflow tracking server and model registry."""

    model_config = _config("LLMOPS_MLFLOW_")

    port: int = Field(5000, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None

    def has_credentials(self) -> bool:
        return super().has_credentials() or self.password is not None

    def missing_credentials(self) -> list[str]:
        return [] if self.username and self.password else ["LLMOPS_MLFLOW_USERNAME", "LLMOPS_MLFLOW_PASSWORD"]


class LakeFSSettings(_ServiceSettings):
    """lakeFS (our compatible server locally, real lakeFS in production)."""

    model_config = _config("LLMOPS_LAKEFS_")

    port: int = Field(8000, ge=1, le=65535)
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    repository: str = Field("llmops", min_length=3, description="Repository holding the datasets.")
    storage_namespace: str | None = Field(
        None,
        description="Where a repository the data flow creates keeps its objects: local://<repository> when "
        "unset (the local server); s3://bucket/prefix (or gs://, https:// for Azure) on real lakeFS.",
    )

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    def has_credentials(self) -> bool:
        return super().has_credentials() or self.secret_access_key is not None

    def missing_credentials(self) -> list[str]:
        if self.access_key_id and self.secret_access_key:
            return []
        return ["LLMOPS_LAKEFS_ACCESS_KEY_ID", "LLMOPS_LAKEFS_SECRET_ACCESS_KEY"]


class MilvusSettings(_ServiceSettings):
    """Milvus (Milvus Lite in server mode locally)."""

    model_config = _config("LLMOPS_MILVUS_")

    port: int = Field(19530, ge=1, le=65535)
    token: SecretStr | None = Field(
        None, description="'user:password' or an API key of a Milvus with authorization on."
    )

    def has_credentials(self) -> bool:
        return super().has_credentials() or self.token is not None

    def missing_credentials(self) -> list[str]:
        return [] if self.token else ["LLMOPS_MILVUS_TOKEN"]


SERVICE_CLASSES = {
    "prefect": PrefectSettings,
    "mlflow": MLflowSettings,
    "lakefs": LakeFSSettings,
    "milvus": MilvusSettings,
}


@dataclass(frozen=True)
class Settings:
    """Everything a command or flow needs to reach the stack."""

    profile: str
    storage: StorageSettings
    prefect: PrefectSettings
    mlflow: MLflowSettings
    lakefs: LakeFSSettings
    milvus: MilvusSettings

    def redacted(self) -> dict[str, dict[str, Any]]:
        """A printable view: secrets stay masked (SecretStr renders as '**********')."""
        out: dict[str, dict[str, Any]] = {"profile": {"name": self.profile}}
        for name in ("storage", *SERVICE_CLASSES):
            model: BaseSettings = getattr(self, name)
            out[name] = {k: (mask_url(str(v)) if v is not None else None) for k, v in model}
        return out

    def with_local_credentials(self) -> Settings:
        """These settings with the credentials `llmops up` generated for managed services (read again)."""
        services = {name: getattr(self, name) for name in SERVICE_CLASSES}
        _with_local_credentials(services, self.storage)
        return replace(self, **services)

    def require_credentials(self) -> None:
        """External servers must be reached with credentials: ConfigError naming what is not set."""
        missing = [
            name
            for service in SERVICE_CLASSES
            if not getattr(self, service).managed
            for name in getattr(self, service).missing_credentials()
        ]
        if missing:
            raise ConfigError(
                f"profile {self.profile!r} reaches external servers without credentials: set {', '.join(missing)} "
                "in the environment (see SECURITY.md); a server without authentication is not supported"
            )


_URL_CREDENTIALS = re.compile(r"(?<=://)([^/@\s:]*)(:[^/@\s]*)?@")


def mask_url(text: str) -> str:
    """`text` with the password of any URL in it masked: https://alice:****@host/ (the user name stays)."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{':****' if m.group(2) else ''}@", text)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.env"))


def resolve_profile(profile: str | None) -> tuple[str, Path | None]:
    """Map a profile name or path to its file; unknown names fail with the list of known ones."""
    name = profile or os.environ.get("LLMOPS_PROFILE") or DEFAULT_PROFILE
    shipped = PROFILES_DIR / f"{name}.env"
    if shipped.is_file():
        return name, shipped
    as_path = Path(name).expanduser()
    if as_path.suffix == ".env" or os.sep in name:
        if as_path.is_file():
            return as_path.stem, as_path
        raise ConfigError(f"LLMOPS_PROFILE={name!r}: no such profile file; give an existing .env file")
    raise ConfigError(
        f"LLMOPS_PROFILE={name!r} is not a known profile; use one of "
        f"{', '.join(available_profiles())} or the path to a .env file"
    )


def _build(cls: type[BaseSettings], env_file: Path | None) -> BaseSettings:
    try:
        return cls(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems = "; ".join(
            f"{prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            + (f" (got {err['input']!r})" if isinstance(err.get("input"), (str, int, float)) else "")
            for err in exc.errors()
        )
        raise ConfigError(f"invalid setting {problems}; fix it in the environment or the profile file") from None


def credentials_path(storage: StorageSettings, service: str = "lakefs") -> Path:
    """Where `llmops up` keeps the generated credentials of a managed service (0600, in a 0700 directory)."""
    return storage.service_dir(service) / "credentials.json"


def _local_credentials(storage: StorageSettings, service: str) -> dict[str, str]:
    path = credentials_path(storage, service)
    return json.loads(path.read_text()) if path.is_file() else {}


def _with_local_credentials(services: dict[str, Any], storage: StorageSettings) -> None:
    """Managed services: the credentials `llmops up` generated, unless the environment sets them."""
    lakefs, prefect, mlflow = services["lakefs"], services["prefect"], services["mlflow"]
    if lakefs.managed and not (lakefs.access_key_id and lakefs.secret_access_key):
        data = _local_credentials(storage, "lakefs")
        services["lakefs"] = lakefs.model_copy(
            update={
                "access_key_id": lakefs.access_key_id or data.get("access_key_id"),
                "secret_access_key": lakefs.secret_access_key
                or (SecretStr(data["secret_access_key"]) if data else None),
            }
        )
    if prefect.managed and prefect.auth_string is None and (data := _local_credentials(storage, "prefect")):
        services["prefect"] = prefect.model_copy(update={"auth_string": SecretStr(data["auth_string"])})
    milvus = services["milvus"]
    # Not under milvus/: that directory is Milvus Lite's own, one subdirectory per database.
    if milvus.managed and milvus.token is None and (data := _local_credentials(storage, "milvus-auth")):
        services["milvus"] = milvus.model_copy(update={"token": SecretStr(data["token"])})
    if mlflow.managed and mlflow.password is None and (data := _local_credentials(storage, "mlflow")):
        services["mlflow"] = mlflow.model_copy(
            update={"username": data["username"], "password": SecretStr(data["password"])}
        )


def load_settings(profile: str | None = None) -> Settings:
    """Build all settings for `profile` (default: $LLMOPS_PROFILE, else `local`)."""
    name, env_file = resolve_profile(profile)
    storage = _build(StorageSettings, env_file)
    services: dict[str, Any] = {key: _build(cls, env_file) for key, cls in SERVICE_CLASSES.items()}
    _with_local_credentials(services, storage)
    settings = Settings(profile=name, storage=storage, **services)  # type: ignore[arg-type]
    settings.require_credentials()
    return settings


ServiceName = Literal["prefect", "mlflow", "lakefs", "milvus"]


class ServeSettings(BaseSettings):
    """The OpenAI-compatible serving endpoint (`llmops serve`) and its clients (`llmops ask`)."""

    model_config = _config("LLMOPS_SERVE_")

    managed: bool = Field(True, description="`llmops up` starts the endpoint with the rest of the local stack.")
    host: str = Field(LOOPBACK, description="Bind address of `llmops serve`.")
    port: int = Field(8080, ge=1, le=65535)
    url: AnyHttpUrl | None = Field(None, description="Base URL clients reach it at (…/v1 is added); default host:port.")
    api_key: SecretStr | None = Field(
        None, description="Bearer token clients send; the local stack generates one in <state>/serve/ when unset."
    )
    model: str = Field("llmops-assistant", min_length=1, description="Registered model whose champion answers.")
    index_alias: str = Field("llmops_docs", min_length=1, description="Milvus serving alias retrieved through.")
    cache_url: str = Field(
        "memory", description="Response cache: 'memory' (in the server process), 'off', or redis://host:port/db."
    )
    cache_ttl_s: int = Field(3600, ge=1, description="How long a cached response is served again.")
    cache_entries: int = Field(10_000, ge=1, description="Most responses the in-memory cache keeps.")
    log_batch: int = Field(64, ge=1, description="Requests written to the lakeFS inference log in one commit.")
    log_flush_s: float = Field(30.0, gt=0, description="Longest a logged request waits for its batch.")
    refresh_s: float = Field(5.0, gt=0, description="How often the champion and serving alias are looked up again.")
    max_tokens: int = Field(64, ge=1, le=4096, description="Tokens generated when a request sets no max_tokens.")

    @property
    def base_url(self) -> str:
        if self.url is not None:
            return str(self.url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url if self.base_url.endswith("/v1") else f"{self.base_url}/v1"


def serve_key_path(storage: StorageSettings) -> Path:
    return storage.service_dir("serve") / "credentials.json"


def load_serve_settings(profile: str | None = None) -> ServeSettings:
    """The serving endpoint's settings; the API key generated for the local stack when none is set."""
    _, env_file = resolve_profile(profile)
    serve = _build(ServeSettings, env_file)
    if serve.api_key is None:
        path = serve_key_path(_build(StorageSettings, env_file))
        if path.is_file():
            serve.api_key = SecretStr(json.loads(path.read_text())["api_key"])
    return serve  # type: ignore[return-value]
