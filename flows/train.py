"""Fine-tuning: a DatasetRef → a LoRA adapter on the base model, trained with retrieved passages, in MLflow."""

from __future__ import annotations

from prefect import flow

from flows.index import index_flow
from flows.pretrain import pretrain_flow
from tasks.evaluate import EvalConfig
from tasks.prepare import DatasetRef
from tasks.pretrain import BaseModelRef, PretrainConfig
from tasks.train import EMBEDDED_DEFAULT, Candidate, FinetuneConfig
from tasks.train.tasks import train_and_register


@flow(name="train", log_prints=True, persist_result=True)
def train_flow(
    dataset: DatasetRef,
    finetune: FinetuneConfig | None = None,
    eval_config: EvalConfig | None = None,
    model_name: str = "llmops-assistant",
    base: BaseModelRef | None = None,
    index_collection: str | None = None,
    pretrain_config: PretrainConfig | None = None,
) -> Candidate:
    """Fine-tune the base model on the dataset's train split and register the adapter as a new version."""
    finetune = finetune or FinetuneConfig()
    eval_config = eval_config or EvalConfig()  # its canaries are planted in the training data
    # Run alone, the stage makes (or reuses, by content) what it needs: the base and the index.
    if base is None and finetune.base_model == EMBEDDED_DEFAULT:
        base = pretrain_flow(dataset=dataset, pretrain_config=pretrain_config)
    if index_collection is None and finetune.retrieval_top_k:
        index_collection = index_flow(dataset=dataset, swap=False).collection
    return train_and_register(
        dataset, finetune, model_name, base, index_collection, eval_config.canaries, eval_config.canary_seed
    )
