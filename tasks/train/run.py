"""The train stage's plain entry point: a DatasetRef → a LoRA adapter registered in MLflow with its lineage.

Checkpoints live under `<state>/checkpoints/<data commit>-<config hash>`, so a rerun after a crash
resumes; a finished (data commit, config) pair already registered is returned as is, so a rerun
with unchanged data and config creates no new model version. No Prefect here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from lakefs.client import Client

from tasks.prepare import DatasetRef, read_split
from tasks.services import mlflow as tracking
from tasks.train import register
from tasks.train.base_model import resolve_base_model
from tasks.train.canaries import canary_records, make_canaries
from tasks.train.config import EMBEDDED_DEFAULT, FinetuneConfig
from tasks.train.loop import TrainResult, train_lora
from tasks.train.register import BASE_MODEL_ARTIFACT, Candidate


def _run_marker(output_dir: Path) -> Path:
    return output_dir / "mlflow_run.json"


def finetune_and_register(
    lakefs_client: Client,
    mlflow: Any,
    dataset: DatasetRef,
    config: FinetuneConfig,
    *,
    model_name: str,
    experiment: str,
    state_dir: Path,
    flow_run: dict[str, str],
    canaries: int = 0,
    canary_seed: int = 0,
    log: Any = print,
) -> Candidate:
    """Train a LoRA adapter on the dataset's train split and register it as a new version."""
    existing = register.find_version(mlflow, model_name, dataset, config)
    if existing is not None:
        return Candidate(model_name=model_name, version=str(existing.version), run_id=existing.run_id, reused=True)

    train = read_split(lakefs_client, dataset, dataset.train)
    evals = read_split(lakefs_client, dataset, dataset.eval)
    planted = make_canaries(canaries, canary_seed)
    train_rows = pd.concat([train, pd.DataFrame(canary_records(planted))], ignore_index=True)
    texts = (train["prompt"] + "\n" + train["response"]).tolist()
    base = resolve_base_model(config, texts, state_dir / "models" / "base")

    output_dir = state_dir / "checkpoints" / f"{dataset.commit[:16]}-{config.config_hash()[:16]}"
    output_dir.mkdir(parents=True, exist_ok=True)
    lineage = register.Lineage(
        lakefs_repository=dataset.repository,
        lakefs_commit=dataset.commit,
        train_path=dataset.train[0],
        eval_path=dataset.eval[0] if dataset.eval else "",
        base_model=config.base_model,
        prefect_flow_run_id=flow_run.get("llmops.prefect_flow_run_id"),
        prefect_flow_run_url=flow_run.get("llmops.prefect_flow_run_url"),
        git_revision=tracking.git_revision(),
        config_hash=config.config_hash(),
    )
    marker = _run_marker(output_dir)
    if marker.is_file():  # resuming after a crash: keep logging into the same MLflow run
        run_id = json.loads(marker.read_text())["run_id"]
        log(f"resuming MLflow run {run_id}")
    else:
        run_id = register.start_finetune_run(
            mlflow, experiment, config.model_dump(mode="json"), lineage, run_name=f"finetune-{dataset.commit[:8]}"
        )
        marker.write_text(json.dumps({"run_id": run_id}))
        tracking.log_dataset(run_id, train, dataset.uri(dataset.train[0]), "train", "training")
        if dataset.eval:
            tracking.log_dataset(run_id, evals, dataset.uri(dataset.eval[0]), "eval", "evaluation")

    buffer = tracking.MetricBuffer(mlflow, run_id)

    def on_metrics(metrics: dict[str, Any]) -> None:
        step = int(metrics.get("step", 0))
        buffer.add({k: float(v) for k, v in metrics.items() if k != "step" and isinstance(v, (int, float))}, step)
        if "loss" in metrics:
            log(f"step {step}: loss {metrics['loss']:.4f}, {metrics.get('tokens_per_s', 0):,.0f} tokens/s")

    result: TrainResult = train_lora(
        config,
        Path(base) if isinstance(base, Path) else base,
        train_rows,
        evals,
        output_dir,
        data_commit=dataset.commit,
        on_metrics=on_metrics,
    )
    buffer.flush()
    summary = {
        "initial_eval_loss": result.initial_eval_loss,
        "final_eval_loss": result.final_eval_loss,
        "train_tokens_per_s": result.tokens_per_s,
        "peak_memory_mb": result.peak_memory_mb,
    }
    buffer.add({k: v for k, v in summary.items() if v is not None}, result.steps)
    buffer.flush()

    extra = {BASE_MODEL_ARTIFACT: Path(base)} if config.base_model == EMBEDDED_DEFAULT else {}
    version = register.register_adapter(mlflow, model_name, run_id, Path(result.adapter_dir), lineage, extra)
    mlflow.set_terminated(run_id)
    return Candidate(
        model_name=model_name,
        version=str(version.version),
        run_id=run_id,
        steps=result.steps,
        initial_eval_loss=result.initial_eval_loss,
        final_eval_loss=result.final_eval_loss,
        tokens_per_s=result.tokens_per_s,
    )
