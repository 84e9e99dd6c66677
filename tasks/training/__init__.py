"""LoRA fine-tuning core, plain Python (no Prefect, MLflow or lakeFS here).

    config.py      FinetuneConfig: the one typed config of a run, and its hash
    base_model.py  the embedded default model (a tiny Llama built on the spot) or a hub id / local path
    data.py        instruction pairs to token ids: template, response-only labels, packing
    train.py       train_lora: the resumable training loop, checkpoints, progress metrics
    inference.py   load an adapter on its base, greedy generation, logits
    errors.py      the typed errors the modules above raise

Importing this package does not import torch; the functions import it when they run.
"""

from tasks.training.base_model import resolve_base_model
from tasks.training.config import EMBEDDED_DEFAULT, FinetuneConfig
from tasks.training.errors import (
    BaseModelNotFoundError,
    PrecisionUnavailableError,
    ResumeMismatchError,
    TrainingDataError,
    TrainingError,
)
from tasks.training.inference import generate, load_adapter_model, logits_for
from tasks.training.train import TrainResult, train_lora

__all__ = [
    "EMBEDDED_DEFAULT",
    "BaseModelNotFoundError",
    "FinetuneConfig",
    "PrecisionUnavailableError",
    "ResumeMismatchError",
    "TrainResult",
    "TrainingDataError",
    "TrainingError",
    "generate",
    "load_adapter_model",
    "logits_for",
    "resolve_base_model",
    "train_lora",
]
