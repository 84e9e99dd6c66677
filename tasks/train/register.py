"""What a registered model version was made from, and how to get it back: lineage, registration, loading.

Lineage lives in tags on the run and the version (see `Lineage`), so a model version alone leads
to the lakeFS commit of its training data and to the Prefect flow run that made it. A version
holds the adapter directory; the embedded default base is logged beside it in the run, so the
version loads on a machine that never built it. No Prefect here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from tasks.services import mlflow as tracking
from tasks.train.inference import load_adapter_model

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from tasks.prepare import DatasetRef

BASE_MODEL_ARTIFACT = "base_model"


class Lineage(BaseModel):
    """What a model version was made from; written as `llmops.*` tags on runs and versions."""

    lakefs_repository: str
    lakefs_commit: str
    train_path: str
    eval_path: str
    prefect_flow_run_id: str | None = None
    prefect_flow_run_url: str | None = None
    base_model: str  # models:/llmops-base/<v> (the embedded default), a hub id, or a local path
    base_model_revision: str | None = None  # the hub commit of a hub base
    index_collection: str | None = None  # the Milvus collection the examples' passages came from
    canaries: int = 0
    canary_seed: int = 0
    git_revision: str = "unknown"
    config_hash: str
    run_key: str | None = None  # config hash + base + index + canaries: what makes a run (see tasks.train.run)

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


class Candidate(BaseModel):
    """A registered model version made by one fine-tune."""

    model_name: str
    version: str
    run_id: str
    reused: bool = False
    steps: int = 0
    final_eval_loss: float | None = None
    initial_eval_loss: float | None = None
    tokens_per_s: float | None = None
    base_model: str | None = None
    index_collection: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def start_finetune_run(
    client: MlflowClient, experiment: str, params: dict[str, Any], lineage: Lineage, run_name: str | None = None
) -> str:
    """A run carrying the config as params and the lineage as tags; returns its id."""
    return tracking.start_run(client, experiment, params, lineage.tags(), run_name=run_name)


def register_adapter(
    client: MlflowClient,
    model_name: str,
    run_id: str,
    adapter_dir: Path,
    lineage: Lineage,
    extra_dirs: dict[str, Path] | None = None,
    timeout_s: float = 120.0,
) -> ModelVersion:
    """Upload the adapter directory to the run and register it as a new version of `model_name`."""
    return tracking.register_directory(
        client, model_name, run_id, adapter_dir, lineage.tags(), extra_dirs, timeout_s=timeout_s
    )


def find_version(client: Any, model_name: str, dataset: DatasetRef, run_key: str) -> Any | None:
    """The version already trained from this data commit with this run key, if any."""
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:  # no such registered model yet
        return None
    for version in versions:
        tags = version.tags or {}
        if tags.get("llmops.lakefs_commit") == dataset.commit and tags.get("llmops.run_key") == run_key:
            return version
    return None


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


def load_version(client: Any, model_name: str, alias_or_version: str, dst: Path) -> tuple[Any, Any, str]:
    """(model, tokenizer, prompt template) of a registered version, by alias or number.

    The adapter records its base model's path; when that path is not on this machine (another
    worker, a cleaned cache), the lineage finds the base again: the registry's version of the
    embedded default, the hub id at its recorded commit, or the base logged beside the adapter.
    """
    resolved = resolve(client, model_name, alias_or_version)
    adapter_dir = tracking.download_version(f"models:/{model_name}/{resolved.version.version}", dst / "adapter")
    config_path = adapter_dir / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text())
    if not Path(adapter_config.get("base_model_name_or_path") or "").exists():
        adapter_config["base_model_name_or_path"] = str(locate_base(resolved, dst))
        config_path.write_text(json.dumps(adapter_config, indent=2))
    model, tokenizer = load_adapter_model(adapter_dir)
    template = (adapter_dir / "prompt_template.txt").read_text()
    return model, tokenizer, template


def locate_base(resolved: ResolvedVersion, dst: Path) -> Path:
    """A local directory of a version's base model, found again from its lineage."""
    base = resolved.lineage.base_model
    if base.startswith("models:/"):  # the embedded default: a version of the pretrained base in the registry
        return tracking.download_version(base, dst / "base")
    if resolved.lineage.base_model_revision:  # a hub id, at the commit it was trained from
        from tasks.train.base_model import resolve_base_model
        from tasks.train.config import FinetuneConfig

        config = FinetuneConfig(base_model=base, base_model_revision=resolved.lineage.base_model_revision)
        return resolve_base_model(config).path
    import mlflow

    run_uri = f"runs:/{resolved.version.run_id}/{BASE_MODEL_ARTIFACT}"
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=run_uri, dst_path=str(dst)))
