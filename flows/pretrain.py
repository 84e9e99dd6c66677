"""Pretraining: a DatasetRef's corpus → the embedded default base model, registered as `llmops-base`."""

from __future__ import annotations

from prefect import flow

from tasks.prepare import DatasetRef
from tasks.pretrain import BaseModelRef, PretrainConfig
from tasks.pretrain.tasks import pretrain_base


@flow(name="pretrain", log_prints=True, persist_result=True)
def pretrain_flow(dataset: DatasetRef, pretrain_config: PretrainConfig | None = None) -> BaseModelRef:
    """Train a small Llama and its tokenizer from scratch on the corpus (reused for the same corpus and recipe)."""
    return pretrain_base(dataset, pretrain_config or PretrainConfig())
