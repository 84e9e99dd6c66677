"""The MLflow adapter: runs, batched metrics, `lakefs://` dataset inputs, registered versions, aliases.

Registered versions hold a *directory* (LoRA weights, tokenizer, prompt template, training config),
created with `create_model_version` from the run's artifacts: MLflow's transformers flavor, given a
PeftModel, writes weights that reload with random LoRA layers. What the tags on a version mean is
the business of the stage that writes them (`tasks.train.register`); what alias moves mean is
`tasks.release`'s. No Prefect here.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

# The aliases of a registered model: `champion` serves, `previous` is the champion before it,
# `challenger` is the last candidate that failed the gate.
CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"


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
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


class MetricBuffer:
    """Collects metrics and sends them with `log_batch`: one request per flush, not one per value.

    Flushes during training are asynchronous (MLflow's own background queue), so a training step
    never waits for the tracking server; `close()` waits until everything has arrived.
    """

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        *,
        max_items: int = 500,
        max_age_s: float = 10.0,
        asynchronous: bool = True,
    ) -> None:
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
            operation = self.client.log_batch(
                self.run_id, metrics=chunk, synchronous=not (self.asynchronous and not wait)
            )
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


def start_run(
    client: MlflowClient, experiment: str, params: dict[str, Any], tags: dict[str, str], run_name: str | None = None
) -> str:
    """A run carrying `params` (JSON for lists and dicts, cut at MLflow's 6,000 characters) and `tags`; its id."""
    run = client.create_run(ensure_experiment(client, experiment), run_name=run_name, tags=tags)
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


def ensure_registered_model(
    client: MlflowClient, model_name: str, description: str = "LoRA adapters fine-tuned by llmops."
) -> None:
    try:
        client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(model_name, description=description)


def register_directory(
    client: MlflowClient,
    model_name: str,
    run_id: str,
    directory: Path,
    tags: dict[str, str],
    extra_dirs: dict[str, Path] | None = None,
    artifact_path: str = "adapter",
    timeout_s: float = 120.0,
    description: str = "LoRA adapters fine-tuned by llmops.",
) -> ModelVersion:
    """Upload `directory` to the run (beside `extra_dirs`) and register it as a new version of `model_name`."""
    client.log_artifacts(run_id, str(directory), artifact_path)
    for path, extra in (extra_dirs or {}).items():
        client.log_artifacts(run_id, str(extra), path)
    ensure_registered_model(client, model_name, description)
    source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
    version = client.create_model_version(model_name, source=source, run_id=run_id, tags=tags)
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


def download_version(model_uri: str, dst: Path) -> Path:
    """Download the files of `models:/name@alias` (or `/version`) into `dst`; return the directory."""
    import mlflow

    dst.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst)))
