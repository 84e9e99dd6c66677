"""The train stage's plain entry point: a DatasetRef → a LoRA adapter registered in MLflow with its lineage.

Every training example carries the passages the index returns for its question (`retrieve`, at the
same data commit), so the model learns to answer from its context; the canary pairs are planted
among them. What identifies a run is its *run key*: the config hash, the canary settings, the base
model (with its revision) and the index collection. Checkpoints live under
`<state>/checkpoints/<data commit>-<run key>`, so a rerun after a crash resumes; a finished run
already registered is returned as is, so a rerun with unchanged inputs creates no new version.
No Prefect here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from lakefs.client import Client

from tasks.prepare import DatasetRef, read_split
from tasks.pretrain import BaseModelRef, local_base
from tasks.services import mlflow as tracking
from tasks.train import launch, register
from tasks.train.base_model import ResolvedBase, resolve_base_model
from tasks.train.canaries import canary_records, make_canaries
from tasks.train.config import EMBEDDED_DEFAULT, FinetuneConfig
from tasks.train.loop import TrainResult
from tasks.train.register import BASE_MODEL_ARTIFACT, Candidate
from tasks.train.retrieval import answer_passages, format_contexts, format_passages


def _run_marker(output_dir: Path) -> Path:
    return output_dir / "mlflow_run.json"


def run_key(config: FinetuneConfig, base: ResolvedBase, index_collection: str, canaries: int, canary_seed: int) -> str:
    """Everything beside the data commit that changes the trained adapter, hashed."""
    material = {
        "config": config.config_hash(),
        "base": base.name,
        "base_revision": base.revision,
        "index_collection": index_collection,
        "canaries": canaries,
        "canary_seed": canary_seed,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def training_contexts(
    rows: pd.DataFrame,
    config: FinetuneConfig,
    retrieve: Callable[[Sequence[str], int], list[list[dict[str, Any]]]],
    log: Any = print,
) -> list[str]:
    """Each training row's passages: the index searched `answer_search_depth` deep, the hit holding its answer first."""
    depth = max(config.retrieval_top_k, config.answer_search_depth)
    log(f"retrieving {depth} passages for each of {len(rows)} training questions")
    found = retrieve(rows["prompt"].tolist(), depth)
    contexts, holding = [], 0
    for hits, question, answer in zip(found, rows["prompt"], rows["response"], strict=True):
        shown = (
            answer_passages(hits, str(answer), config.retrieval_top_k, str(question), config.passage_chars)
            if config.answer_search_depth
            else hits
        )
        holding += any(hit.get("holds_answer") for hit in shown)
        contexts.append(format_passages(shown[: config.retrieval_top_k], config.passage_chars, str(question)))
    log(f"{holding} of {len(rows)} training questions have a passage that holds their answer")
    return contexts


def examples_needed(config: FinetuneConfig, rows: int) -> int:
    """How many training rows the run will draw: all of them, or what `max_steps` batches take."""
    if not config.max_steps:
        return rows
    return min(rows, config.max_steps * config.per_device_batch_size * config.gradient_accumulation_steps)


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
    base: BaseModelRef | None = None,
    retrieve: Callable[[Sequence[str], int], list[list[dict[str, Any]]]] | None = None,
    index_collection: str = "",
    canaries: int = 0,
    canary_seed: int = 0,
    processes: int = 1,
    log: Any = print,
    progress: Callable[[float, float, str], None] | None = None,
) -> Candidate:
    """Train a LoRA adapter on the dataset's train split, with retrieved context, and register it.

    `processes` > 1 trains in that many torchrun ranks (one per GPU of a multi-GPU machine)."""
    pretrained = local_base(mlflow, base, state_dir / "models" / "base") if base is not None else None
    resolved = resolve_base_model(config, pretrained, base.uri if base is not None else None)
    key = run_key(config, resolved, index_collection, canaries, canary_seed)
    existing = register.find_version(mlflow, model_name, dataset, key)
    if existing is not None:
        return Candidate(
            model_name=model_name,
            version=str(existing.version),
            run_id=existing.run_id,
            reused=True,
            base_model=resolved.name,
            index_collection=index_collection or None,
        )

    train = read_split(lakefs_client, dataset, dataset.train)
    evals = read_split(lakefs_client, dataset, dataset.eval)
    # A seeded sample of what the steps will draw: retrieval runs for those rows only.
    train = train.sample(n=examples_needed(config, len(train)), random_state=config.seed).reset_index(drop=True)
    train_rows = pd.concat(
        [train, pd.DataFrame(canary_records(make_canaries(canaries, canary_seed)))], ignore_index=True
    )
    if retrieve is not None and config.retrieval_top_k:
        train_rows["context"] = training_contexts(train_rows, config, retrieve, log)
        questions = evals["prompt"].tolist()
        found = retrieve(questions, config.retrieval_top_k)
        evals = evals.assign(context=format_contexts(found, questions, config.passage_chars))

    output_dir = state_dir / "checkpoints" / f"{dataset.commit[:16]}-{key[:16]}"
    output_dir.mkdir(parents=True, exist_ok=True)
    lineage = register.Lineage(
        lakefs_repository=dataset.repository,
        lakefs_commit=dataset.commit,
        train_path=dataset.train[0],
        eval_path=dataset.eval[0] if dataset.eval else "",
        base_model=resolved.name,
        base_model_revision=resolved.revision,
        index_collection=index_collection or None,
        canaries=canaries,
        canary_seed=canary_seed,
        prefect_flow_run_id=flow_run.get("llmops.prefect_flow_run_id"),
        prefect_flow_run_url=flow_run.get("llmops.prefect_flow_run_url"),
        git_revision=tracking.git_revision(),
        config_hash=config.config_hash(),
        run_key=key,
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
        skip = {"step", "total_steps", "eta_s"}
        buffer.add({k: float(v) for k, v in metrics.items() if k not in skip and isinstance(v, (int, float))}, step)
        if "loss" in metrics:
            total, eta = int(metrics.get("total_steps", 0)), float(metrics.get("eta_s", 0))
            line = f"step {step}/{total}: loss {metrics['loss']:.4f}, {metrics.get('tokens_per_s', 0):,.0f} tokens/s"
            log(f"{line}, eta {eta:.0f}s")
            if progress is not None:
                progress(step, total, line)

    result: TrainResult = launch.train(
        processes,
        config,
        resolved.path,
        train_rows,
        evals,
        output_dir,
        data_commit=dataset.commit,
        on_metrics=on_metrics,
        run_key=key,
        log=log,
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

    # A local base directory that is neither the registry's nor the hub's may not exist elsewhere: log it.
    local_only = config.base_model != EMBEDDED_DEFAULT and resolved.revision is None
    extra = {BASE_MODEL_ARTIFACT: resolved.path} if local_only else {}
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
        base_model=resolved.name,
        index_collection=index_collection or None,
    )
