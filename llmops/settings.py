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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmops.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent.parent / "infra" / "profiles"
DEFAULT_PROFILE = "local"
LOOPBACK = "127.0.0.1"


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

    @property
    def base_url(self) -> str:
        if self.url is not None:
            return str(self.url).rstrip("/")
        return f"http://{self.host}:{self.port}"

    def model_post_init(self, _context: Any) -> None:
        if self.managed and self.host != LOOPBACK:
            prefix = self.model_config.get("env_prefix", "")
            raise ConfigError(
                f"{prefix}HOST={self.host!r}: managed services bind to {LOOPBACK} only; "
                f"to reach a server elsewhere set {prefix}MANAGED=false and {prefix}URL"
            )


class PrefectSettings(_ServiceSettings):
    """Prefect server (API and UI) and the work pool our deployments run on."""

    model_config = _config("LLMOPS_PREFECT_")

    port: int = Field(4200, ge=1, le=65535)
    api_key: SecretStr | None = Field(None, description="Prefect Cloud API key (production only).")
    work_pool: str = Field("llmops-local", min_length=1, description="Process work pool of the worker.")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"


class MLflowSettings(_ServiceSettings):
    """MLflow tracking server and model registry."""

    model_config = _config("LLMOPS_MLFLOW_")

    port: int = Field(5000, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None


class LakeFSSettings(_ServiceSettings):
    """lakeFS (our compatible server locally, real lakeFS in production)."""

    model_config = _config("LLMOPS_LAKEFS_")

    port: int = Field(8000, ge=1, le=65535)
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    repository: str = Field("llmops", min_length=3, description="Repository holding the datasets.")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"


class MilvusSettings(_ServiceSettings):
    """Milvus (Milvus Lite in server mode locally)."""

    model_config = _config("LLMOPS_MILVUS_")

    port: int = Field(19530, ge=1, le=65535)
    token: SecretStr | None = None


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
            out[name] = {k: (str(v) if v is not None else None) for k, v in model}
        return out


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


def _read_local_lakefs_credentials(lakefs: LakeFSSettings, storage: StorageSettings) -> LakeFSSettings:
    """Managed lakeFS: credentials are the ones `llmops up` generated into the state directory."""
    if not lakefs.managed or (lakefs.access_key_id and lakefs.secret_access_key):
        return lakefs
    path = credentials_path(storage)
    if not path.is_file():
        return lakefs
    data = json.loads(path.read_text())
    return lakefs.model_copy(
        update={
            "access_key_id": lakefs.access_key_id or data["access_key_id"],
            "secret_access_key": lakefs.secret_access_key or SecretStr(data["secret_access_key"]),
        }
    )


def credentials_path(storage: StorageSettings) -> Path:
    return storage.service_dir("lakefs") / "credentials.json"


def load_settings(profile: str | None = None) -> Settings:
    """Build all settings for `profile` (default: $LLMOPS_PROFILE, else `local`)."""
    name, env_file = resolve_profile(profile)
    storage = _build(StorageSettings, env_file)
    services = {key: _build(cls, env_file) for key, cls in SERVICE_CLASSES.items()}
    services["lakefs"] = _read_local_lakefs_credentials(services["lakefs"], storage)  # type: ignore[arg-type]
    return Settings(profile=name, storage=storage, **services)  # type: ignore[arg-type]


ServiceName = Literal["prefect", "mlflow", "lakefs", "milvus"]
