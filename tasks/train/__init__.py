"""The train stage: LoRA fine-tuning on a dataset's train split, registered in MLflow with its lineage.

    config.py       FinetuneConfig: the one typed config of a run, and its hash
    base_model.py   the embedded default model (a tiny Llama built on the spot) or a hub id / local path
    data.py         instruction pairs to token ids: template, response-only labels, packing
    canaries.py     the canary pairs planted in training (and probed by the evaluate stage)
    loop.py         train_lora: the resumable training loop
    checkpoints.py  the output directory: run marker, checkpoints, the final adapter
    progress.py     loss, throughput, memory and ETA per logging window
    inference.py    load an adapter on its base, greedy generation, logits
    retrieval.py    the passages a prompt carries, for training, evaluation and serving alike
    register.py     Lineage, Candidate, registering an adapter as a model version, loading one back
    run.py          finetune_and_register: the stage from a DatasetRef to a registered Candidate
    errors.py       the typed errors the modules above raise
    tasks.py        the Prefect task over `finetune_and_register`

Importing this package does not import torch; the functions import it when they run. Other stages
use what this file exports.
"""

from tasks.train.base_model import resolve_base_model
from tasks.train.canaries import Canary, canary_records, make_canaries
from tasks.train.config import EMBEDDED_DEFAULT, FinetuneConfig
from tasks.train.data import IGNORE, encode_prompt, mask_example
from tasks.train.errors import (
    BaseModelNotFoundError,
    PrecisionUnavailableError,
    ResumeMismatchError,
    TrainingDataError,
    TrainingError,
)
from tasks.train.inference import generate, generate_stream, load_adapter_model, logits_for, read_training_config
from tasks.train.loop import TrainResult, train_lora
from tasks.train.register import Candidate, Lineage, find_version, load_version, resolve
from tasks.train.retrieval import format_contexts, format_passages, retrieve_contexts
from tasks.train.run import finetune_and_register

__all__ = [
    "EMBEDDED_DEFAULT",
    "IGNORE",
    "BaseModelNotFoundError",
    "Canary",
    "Candidate",
    "FinetuneConfig",
    "Lineage",
    "PrecisionUnavailableError",
    "ResumeMismatchError",
    "TrainResult",
    "TrainingDataError",
    "TrainingError",
    "canary_records",
    "encode_prompt",
    "finetune_and_register",
    "find_version",
    "generate",
    "generate_stream",
    "load_adapter_model",
    "load_version",
    "logits_for",
    "make_canaries",
    "mask_example",
    "resolve",
    "resolve_base_model",
    "read_training_config",
    "retrieve_contexts",
    "format_passages",
    "format_contexts",
    "train_lora",
]
