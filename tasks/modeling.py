"""Fine-tune on a DatasetRef, register the adapter with lineage, evaluate, gate and promote (no Prefect).

Checkpoints live under `<state>/checkpoints/<data commit>-<config hash>`, so a rerun after a crash
resumes; a finished (data commit, config) pair already registered is returned as is, so a rerun
with unchanged data and config creates no new model version.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import lakefs
import pandas as pd
from lakefs.client import Client
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from tasks import registry
from tasks.datasets import DatasetRef
from tasks.evaluation import safety
from tasks.evaluation.gate import Decision, EvalResult, GatePolicy, decide
from tasks.evaluation.run import EvalConfig, evaluate_model
from tasks.training.base_model import resolve_base_model
from tasks.training.config import FinetuneConfig
from tasks.training.inference import load_adapter_model
from tasks.training.train import TrainResult, train_lora

EMBEDDED = "embedded-default"


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

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def read_parquet_at(client: Client, repository: str, commit: str, paths: list[str]) -> pd.DataFrame:
    """Parquet files read at one lakeFS commit, concatenated."""
    frames = []
    for path in paths:
        with lakefs.Reference(repository, commit, client=client).object(path).reader(mode="rb") as f:
            frames.append(pd.read_parquet(io.BytesIO(f.read())))
    if not frames:
        return pd.DataFrame(columns=["id", "prompt", "response", "source"])
    return pd.concat(frames, ignore_index=True)


def read_split(client: Client, dataset: DatasetRef, paths: list[str]) -> pd.DataFrame:
    """The Parquet files of a split, read at the dataset's commit."""
    return read_parquet_at(client, dataset.repository, dataset.commit, paths)


def find_version(mlflow: Any, model_name: str, dataset: DatasetRef, config: FinetuneConfig) -> Any | None:
    """The version already trained from this data commit with this config, if any."""
    try:
        versions = mlflow.search_model_versions(f"name='{model_name}'")
    except MlflowException:  # no such registered model yet
        return None
    for version in versions:
        tags = version.tags or {}
        if tags.get("llmops.lakefs_commit") == dataset.commit and tags.get("llmops.config_hash") == config.config_hash():
            return version
    return None


def _run_marker(output_dir: Path) -> Path:
    return output_dir / "mlflow_run.json"


def finetune_and_register(lakefs_client: Client, mlflow: Any, dataset: DatasetRef, config: FinetuneConfig, *,
                          model_name: str, experiment: str, state_dir: Path, flow_run: dict[str, str],
                          eval_config: EvalConfig, log: Any = print) -> Candidate:
    """Train a LoRA adapter on the dataset's train split and register it as a new version."""
    existing = find_version(mlflow, model_name, dataset, config)
    if existing is not None:
        return Candidate(model_name=model_name, version=str(existing.version), run_id=existing.run_id, reused=True)

    train = read_split(lakefs_client, dataset, dataset.train)
    evals = read_split(lakefs_client, dataset, dataset.eval)
    canaries = safety.make_canaries(eval_config.canaries, eval_config.canary_seed)
    train_rows = pd.concat([train, pd.DataFrame(safety.canary_records(canaries))], ignore_index=True)
    texts = (train["prompt"] + "\n" + train["response"]).tolist()
    base = resolve_base_model(config, texts, state_dir / "models" / "base")

    output_dir = state_dir / "checkpoints" / f"{dataset.commit[:16]}-{config.config_hash()[:16]}"
    output_dir.mkdir(parents=True, exist_ok=True)
    lineage = registry.Lineage(
        lakefs_repository=dataset.repository, lakefs_commit=dataset.commit, train_path=dataset.train[0],
        eval_path=dataset.eval[0] if dataset.eval else "", base_model=config.base_model,
        prefect_flow_run_id=flow_run.get("llmops.prefect_flow_run_id"),
        prefect_flow_run_url=flow_run.get("llmops.prefect_flow_run_url"),
        git_revision=registry.git_revision(), config_hash=config.config_hash(),
    )
    marker = _run_marker(output_dir)
    if marker.is_file():  # resuming after a crash: keep logging into the same MLflow run
        run_id = json.loads(marker.read_text())["run_id"]
        log(f"resuming MLflow run {run_id}")
    else:
        run_id = registry.start_finetune_run(mlflow, experiment, config.model_dump(mode="json"), lineage,
                                             run_name=f"finetune-{dataset.commit[:8]}")
        marker.write_text(json.dumps({"run_id": run_id}))
        registry.log_dataset(run_id, train, dataset.uri(dataset.train[0]), "train", "training")
        if dataset.eval:
            registry.log_dataset(run_id, evals, dataset.uri(dataset.eval[0]), "eval", "evaluation")

    buffer = registry.MetricBuffer(mlflow, run_id)

    def on_metrics(metrics: dict[str, Any]) -> None:
        step = int(metrics.get("step", 0))
        buffer.add({k: float(v) for k, v in metrics.items() if k != "step" and isinstance(v, (int, float))}, step)
        if "loss" in metrics:
            log(f"step {step}: loss {metrics['loss']:.4f}, {metrics.get('tokens_per_s', 0):,.0f} tokens/s")

    result: TrainResult = train_lora(config, Path(base) if isinstance(base, Path) else base, train_rows, evals,
                                     output_dir, data_commit=dataset.commit, on_metrics=on_metrics)
    buffer.flush()
    summary = {"initial_eval_loss": result.initial_eval_loss, "final_eval_loss": result.final_eval_loss,
               "train_tokens_per_s": result.tokens_per_s, "peak_memory_mb": result.peak_memory_mb}
    buffer.add({k: v for k, v in summary.items() if v is not None}, result.steps)
    buffer.flush()

    extra = {"base_model": Path(base)} if config.base_model == EMBEDDED else {}
    version = registry.register_adapter(mlflow, model_name, run_id, Path(result.adapter_dir), lineage, extra)
    mlflow.set_terminated(run_id)
    return Candidate(model_name=model_name, version=str(version.version), run_id=run_id, steps=result.steps,
                     initial_eval_loss=result.initial_eval_loss, final_eval_loss=result.final_eval_loss,
                     tokens_per_s=result.tokens_per_s)


def load_version(mlflow: Any, model_name: str, alias_or_version: str, dst: Path) -> tuple[Any, Any, str]:
    """(model, tokenizer, prompt template) of a registered version, by alias or number.

    The adapter records its base model's path; when that path is not on this machine (another
    worker, a cleaned cache), the base logged beside the adapter in the run is used instead.
    """
    resolved = registry.resolve(mlflow, model_name, alias_or_version)
    version = resolved.version
    adapter_dir = registry.download_version(f"models:/{model_name}/{version.version}", dst / "adapter")
    config_path = adapter_dir / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text())
    if not Path(adapter_config.get("base_model_name_or_path") or "").exists():
        import mlflow as mlflow_module

        run_uri = f"runs:/{version.run_id}/base_model"
        base_dir = Path(mlflow_module.artifacts.download_artifacts(artifact_uri=run_uri, dst_path=str(dst)))
        adapter_config["base_model_name_or_path"] = str(base_dir)
        config_path.write_text(json.dumps(adapter_config, indent=2))
    model, tokenizer = load_adapter_model(adapter_dir)
    template = (adapter_dir / "prompt_template.txt").read_text()
    return model, tokenizer, template


def evaluate_version(mlflow: Any, model_name: str, alias_or_version: str, evals: pd.DataFrame,
                     config: EvalConfig, workdir: Path) -> EvalResult:
    model, tokenizer, template = load_version(mlflow, model_name, alias_or_version, workdir)
    result = evaluate_model(model, tokenizer, evals, template, config,
                            model_uri=f"models:/{model_name}/{alias_or_version}")
    del model
    return result


def gate_and_promote(mlflow: Any, candidate: Candidate, cand_eval: EvalResult, champ_eval: EvalResult | None,
                     policy: GatePolicy, *, promote_now: bool = True) -> Decision:
    """Decide, record the decision on the candidate's run and version, and move aliases accordingly."""
    decision = decide(cand_eval, champ_eval, policy)
    mlflow.log_dict(candidate.run_id, {"decision": decision.model_dump(mode="json"),
                                       "candidate": cand_eval.model_dump(mode="json"),
                                       "champion": champ_eval.model_dump(mode="json") if champ_eval else None,
                                       "policy": policy.model_dump(mode="json")}, "gate/decision.json")
    metrics = [Metric(f"eval_{k}", float(v), 0, 0) for k, v in cand_eval.metrics.items()]
    metrics += [Metric("canary_leaks", float(cand_eval.canary_leaks), 0, 0)]
    if cand_eval.injection_resistance is not None:
        metrics += [Metric("injection_resistance", cand_eval.injection_resistance, 0, 0)]
    mlflow.log_batch(candidate.run_id, metrics=metrics, synchronous=True)
    if decision.promote:
        mlflow.set_model_version_tag(candidate.model_name, candidate.version, registry.GATE_TAG, "passed")
        if promote_now:
            registry.promote(mlflow, candidate.model_name, candidate.version, reason="; ".join(decision.reasons))
    else:
        registry.mark_challenger(mlflow, candidate.model_name, candidate.version, decision.reasons)
    return decision


def clean_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
