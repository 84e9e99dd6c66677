"""Fine-tuning: a DatasetRef → a LoRA adapter registered in MLflow with its lineage."""

from __future__ import annotations

from prefect import flow

from tasks.datasets import DatasetRef
from tasks.evaluation.run import EvalConfig
from tasks.model_tasks import train_and_register
from tasks.modeling import Candidate
from tasks.training.config import FinetuneConfig


@flow(name="train", log_prints=True)
def train_flow(dataset: DatasetRef, finetune: FinetuneConfig | None = None, eval_config: EvalConfig | None = None,
               model_name: str = "llmops-assistant") -> Candidate:
    """Fine-tune the base model on the dataset's train split and register the adapter as a new version."""
    return train_and_register(dataset, finetune or FinetuneConfig(), eval_config or EvalConfig(), model_name)
