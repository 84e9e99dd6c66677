"""The MLflow side of the lifecycle: tracking a fine-tune, registering adapters, moving aliases.

Registered versions hold an adapter *directory* (LoRA weights, tokenizer, prompt template,
training config), created with `create_model_version` from the run's artifacts: MLflow's
transformers flavor, given a PeftModel, writes weights that reload with random LoRA layers.

Lineage lives in tags on the run and the version (see `Lineage`), so a model version alone leads
to the lakeFS commit of its training data and to the Prefect flow run that made it.

Aliases: `champion` serves; `previous` is the champion before it; `challenger` is the last
candidate that failed the gate. The order of champions is kept in the registered model's tag
`llmops.champion_history`, so rollback can go back more than once.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from pydantic import BaseModel

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
HISTORY_TAG = "llmops.champion_history"
GATE_TAG = "llmops.gate"  # "passed" or "failed", set on a version after evaluation


class Lineage(BaseModel):
    """What a model version was made from; written as `llmops.*` tags on runs and versions."""

    lakefs_repository: str
    lakefs_commit: str
    train_path: str
    eval_path: str
    prefect_flow_run_id: str | None = None
    prefect_flow_run_url: str | None = None
    base_model: str
    git_revision: str = "unknown"
    config_hash: str

    @property
    def train_uri(self) -> str:
        return f"lakefs://{self.lakefs_repository}/{self.lakefs_commit}/{self.train_path}"

    def tags(self) -> dict[str, str]:
        return {f"llmops.{key}": str(value) for key, value in self.model_dump().items() if value is not None} | {
            "llmops.train_uri": self.train_uri
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Lineage:
        fields = {key.removeprefix("llmops."): value for key, value in tags.items() if key.startswith("llmops.")}
        return cls.model_validate({k: v for k, v in fields.items() if k in cls.model_fields})


class LakeFSDatasetSource(DatasetSource):
    """A `lakefs://repository/ref/path` dataset location, so `mlflow.log_input` accepts it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return "lakefs"

    def load(self, **_: Any) -> str:
        return self.uri  # reading happens through the lakeFS client; MLflow only records the URI

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, str) and raw_source.startswith("lakefs://")

    @classmethod
    def _resolve(cls, raw_source: Any) -> LakeFSDatasetSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> LakeFSDatasetSource:
        return cls(source_dict["uri"])


_registered = False


def register_lakefs_source() -> None:
    """Teach MLflow the `lakefs://` scheme (once per process)."""
    global _registered
    if not _registered:
        from mlflow.data.dataset_source_registry import register_dataset_source

        register_dataset_source(LakeFSDatasetSource)
        _registered = True


def git_revision(repo_dir: Path | None = None) -> str:
    """The project's commit (with `-dirty` if the tree has changes), or 'unknown' outside git."""
    cwd = repo_dir or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


class MetricBuffer:
    """Collects metrics and sends them with `log_batch`: one request per flush, not one per value.

    Flushes during training are asynchronous (MLflow's own background queue), so a training step
    never waits for the tracking server; `close()` waits until everything has arrived.
    """

    def __init__(self, client: MlflowClient, run_id: str, *, max_items: int = 500, max_age_s: float = 10.0,
                 asynchronous: bool = True) -> None:
        self.client, self.run_id = client, run_id
        self.max_items, self.max_age_s, self.asynchronous = max_items, max_age_s, asynchronous
        self._pending: list[Metric] = []
        self._in_flight: list[Any] = []
        self._last_flush = time.monotonic()
        self.requests = 0

    def add(self, metrics: dict[str, float], step: int) -> None:
        now_ms = int(time.time() * 1000)
        self._pending += [Metric(key, float(v), now_ms, step) for key, v in metrics.items() if v is not None]
        if len(self._pending) >= self.max_items or time.monotonic() - self._last_flush >= self.max_age_s:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Send what is pending; with `wait`, also wait for every earlier asynchronous send."""
        # log_batch takes at most 1000 metrics per request
        while self._pending:
            chunk, self._pending = self._pending[:1000], self._pending[1000:]
            operation = self.client.log_batch(self.run_id, metrics=chunk, synchronous=not (self.asynchronous and not wait))
            if operation is not None:
                self._in_flight.append(operation)
            self.requests += 1
        if wait:
            for operation in self._in_flight:
                operation.wait()
            self._in_flight.clear()
        self._last_flush = time.monotonic()

    close = flush


def ensure_experiment(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp is not None else client.create_experiment(name)


def start_finetune_run(client: MlflowClient, experiment: str, params: dict[str, Any], lineage: Lineage,
                       run_name: str | None = None) -> str:
    """A run carrying the config as params and the lineage as tags; returns its id."""
    run = client.create_run(ensure_experiment(client, experiment), run_name=run_name, tags=lineage.tags())
    flat = {k: (json.dumps(v) if isinstance(v, (list, dict)) else str(v)) for k, v in params.items()}
    from mlflow.entities import Param

    client.log_batch(run.info.run_id, params=[Param(k, v[:6000]) for k, v in flat.items()], synchronous=True)
    return run.info.run_id


def log_dataset(run_id: str, df: pd.DataFrame, uri: str, name: str, context: str) -> None:
    """Record a dataset input of the run with its `lakefs://` source."""
    import mlflow

    register_lakefs_source()
    dataset = mlflow.data.from_pandas(df, source=LakeFSDatasetSource(uri), name=name)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_input(dataset, context=context)


def ensure_registered_model(client: MlflowClient, model_name: str) -> None:
    try:
        client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(model_name, description="LoRA adapters fine-tuned by llmops.")


def register_adapter(client: MlflowClient, model_name: str, run_id: str, adapter_dir: Path,
                     lineage: Lineage, extra_dirs: dict[str, Path] | None = None,
                     timeout_s: float = 120.0) -> ModelVersion:
    """Upload the adapter directory to the run and register it as a new version of `model_name`."""
    client.log_artifacts(run_id, str(adapter_dir), "adapter")
    for artifact_path, directory in (extra_dirs or {}).items():
        client.log_artifacts(run_id, str(directory), artifact_path)
    ensure_registered_model(client, model_name)
    source = f"{client.get_run(run_id).info.artifact_uri}/adapter"
    version = client.create_model_version(model_name, source=source, run_id=run_id, tags=lineage.tags())
    deadline = time.monotonic() + timeout_s
    while version.status != "READY":
        if time.monotonic() > deadline:
            raise TimeoutError(f"model version {model_name}/{version.version} not READY after {timeout_s:.0f}s")
        time.sleep(0.5)
        version = client.get_model_version(model_name, version.version)
    return version


def aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    """{alias: version} of a registered model."""
    return {alias: str(version) for alias, version in client.get_registered_model(model_name).aliases.items()}


def champion_history(client: MlflowClient, model_name: str) -> list[str]:
    tags = client.get_registered_model(model_name).tags
    return list(json.loads(tags.get(HISTORY_TAG, "[]")))


class AliasMove(BaseModel):
    model: str
    champion: str | None
    previous: str | None


def promote(client: MlflowClient, model_name: str, version: str, *, reason: str, forced: bool = False) -> AliasMove:
    """Point `champion` at `version`; the old champion becomes `previous`."""
    version = str(version)
    client.get_model_version(model_name, version)  # raises if it does not exist
    current = aliases(client, model_name)
    old = current.get(CHAMPION)
    if old == version:
        return AliasMove(model=model_name, champion=version, previous=current.get(PREVIOUS))
    client.set_registered_model_alias(model_name, CHAMPION, version)
    if old is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, old)
    if current.get(CHALLENGER) == version:
        client.delete_registered_model_alias(model_name, CHALLENGER)
    history = champion_history(client, model_name) + [version]
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history[-50:]))
    client.set_model_version_tag(model_name, version, "llmops.promotion_reason", reason)
    client.set_model_version_tag(model_name, version, "llmops.promoted_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if forced:
        client.set_model_version_tag(model_name, version, "llmops.promotion_forced", "true")
    return AliasMove(model=model_name, champion=version, previous=old)


def mark_challenger(client: MlflowClient, model_name: str, version: str, reasons: list[str]) -> None:
    """A candidate that failed the gate: `challenger` points at it, `champion` stays."""
    client.set_registered_model_alias(model_name, CHALLENGER, str(version))
    client.set_model_version_tag(model_name, str(version), GATE_TAG, "failed")
    client.set_model_version_tag(model_name, str(version), "llmops.gate_reasons", json.dumps(reasons)[:5000])


def rollback(client: MlflowClient, model_name: str) -> AliasMove:
    """Move `champion` back to the champion before it; raise if there is none."""
    history = champion_history(client, model_name)
    current = aliases(client, model_name).get(CHAMPION)
    if current is not None and history and history[-1] != current:
        history.append(current)  # champion moved outside llmops: roll back to what we recorded
    if len(history) < 2:
        raise ValueError(f"{model_name} has no earlier champion to roll back to")
    history.pop()
    target = history[-1]
    client.set_registered_model_alias(model_name, CHAMPION, target)
    if len(history) >= 2:
        client.set_registered_model_alias(model_name, PREVIOUS, history[-2])
    else:
        try:
            client.delete_registered_model_alias(model_name, PREVIOUS)
        except MlflowException:
            pass
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))
    return AliasMove(model=model_name, champion=target, previous=history[-2] if len(history) >= 2 else None)


def restore_aliases(client: MlflowClient, model_name: str, before: dict[str, str], history: list[str]) -> None:
    """Put `champion`, `previous` and `challenger` back exactly as they were (a release's undo)."""
    now = aliases(client, model_name)
    for alias in (CHAMPION, PREVIOUS, CHALLENGER):
        if alias in before:
            client.set_registered_model_alias(model_name, alias, before[alias])
        elif alias in now:
            client.delete_registered_model_alias(model_name, alias)
    client.set_registered_model_tag(model_name, HISTORY_TAG, json.dumps(history))


@dataclass(frozen=True)
class ResolvedVersion:
    version: ModelVersion
    lineage: Lineage


def resolve(client: MlflowClient, model_name: str, alias_or_version: str) -> ResolvedVersion:
    """A version by alias (`champion`) or number, with its lineage read back from the tags."""
    if alias_or_version.isdigit():
        version = client.get_model_version(model_name, alias_or_version)
    else:
        version = client.get_model_version_by_alias(model_name, alias_or_version)
    return ResolvedVersion(version=version, lineage=Lineage.from_tags(version.tags))


def download_version(model_uri: str, dst: Path) -> Path:
    """Download the files of `models:/name@alias` (or `/version`) into `dst`; return the directory."""
    import mlflow

    dst.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst)))
