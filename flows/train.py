"""Fine-tuning: a DatasetRef → a LoRA adapter registered in MLflow with its lineage."""

from __future__ import annotations

from prefect import flow

from tasks.evaluate import EvalConfig
from tasks.prepare import DatasetRef
from tasks.train import Candidate, FinetuneConfig
from tasks.train.tasks import train_and_register


@flow(name="train", log_prints=True)
def train_flow(
    dataset: DatasetRef,
    finetune: FinetuneConfig | None = None,
    eval_config: EvalConfig | None = None,
    model_name: str = "llmops-assistant",
) -> Candidate:
    """Fine-tune the base model on the dataset's train split and register the adapter as a new version."""
    eval_config = eval_config or EvalConfig()  # its canaries are planted in the training data
    return train_and_register(
        dataset, finetune or FinetuneConfig(), model_name, eval_config.canaries, eval_config.canary_seed
    )
