"""Prefect tasks of the train stage: thin wrappers over tasks/train/run.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact

from llmops import clients
from llmops.settings import load_settings
from tasks.prepare import DatasetRef
from tasks.pretrain import BaseModelRef
from tasks.services.embedding import embed
from tasks.shared.tasks import ProgressArtifact, flow_run_metadata, transient_only
from tasks.train.config import FinetuneConfig
from tasks.train.launch import processes_from_env
from tasks.train.register import Candidate
from tasks.train.retrieval import retrieve as search_index
from tasks.train.run import finetune_and_register

EXPERIMENT = "llmops-finetune"


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def train_and_register(
    dataset: DatasetRef,
    config: FinetuneConfig,
    model_name: str,
    base: BaseModelRef | None = None,
    index_collection: str | None = None,
    canaries: int = 0,
    canary_seed: int = 0,
) -> Candidate:
    """Fine-tune a LoRA adapter on the dataset with retrieved passages (resuming a crashed run) and register it."""
    settings = load_settings()
    mlflow = clients.mlflow_client(settings)
    logger = get_run_logger()
    retrieve = None
    if index_collection:
        milvus = clients.milvus_client(settings)

        def retrieve(questions: Sequence[str], top_k: int) -> list[list[dict[str, Any]]]:
            return search_index(milvus, index_collection, embed, questions, top_k)

    progress = ProgressArtifact("finetune-progress", f"Fine-tuning {model_name}")
    candidate = finetune_and_register(
        clients.lakefs_client(settings),
        mlflow,
        dataset,
        config,
        model_name=model_name,
        experiment=EXPERIMENT,
        state_dir=settings.storage.state_dir,
        flow_run=flow_run_metadata(),
        base=base,
        retrieve=retrieve,
        index_collection=index_collection or "",
        canaries=canaries,
        canary_seed=canary_seed,
        processes=processes_from_env(),
        log=logger.info,
        progress=progress.update,
    )
    progress.update(1, 1, "reused: same data and config" if candidate.reused else "done")
    run_url = (
        f"{settings.mlflow.base_url}/#/experiments/{mlflow.get_run(candidate.run_id).info.experiment_id}"
        f"/runs/{candidate.run_id}"
    )
    create_link_artifact(
        key="finetune-run",
        link=run_url,
        link_text=f"MLflow run of {model_name} v{candidate.version}"
        + (" (reused: same data and config)" if candidate.reused else ""),
    )
    return candidate
