"""The exceptions the fine-tuning core raises on purpose.

    LLMOpsError                      (llmops.errors) base of every llmops error
    └── TrainingError                fine-tuning could not start or go on
        ├── TrainingDataError        rows lack `prompt`/`response`, or nothing is left to train on
        ├── BaseModelNotFoundError   the base model is neither a local directory nor in the hub cache
        ├── PrecisionUnavailableError  the requested precision is not supported on this device
        └── ResumeMismatchError      the output directory holds a run for another data commit or config

Each message says what to change. Anything else escaping `train_lora` is a bug.
"""

from __future__ import annotations

from llmops.errors import LLMOpsError


class TrainingError(LLMOpsError):
    """Fine-tuning could not start or go on."""


class TrainingDataError(TrainingError):
    """The training or evaluation rows are unusable."""


class BaseModelNotFoundError(TrainingError):
    """The base model cannot be loaded without a download."""


class PrecisionUnavailableError(TrainingError):
    """The requested precision cannot run on this device."""


class ResumeMismatchError(TrainingError):
    """The output directory belongs to a run with another data commit or config."""

    def __init__(self, output_dir: str, differences: dict[str, tuple[str, str]]) -> None:
        self.output_dir = output_dir
        self.differences = differences
        listed = "; ".join(
            f"{key}: found {found!r}, requested {wanted!r}" for key, (found, wanted) in differences.items()
        )
        super().__init__(
            f"{output_dir} holds checkpoints of another training run ({listed}); refusing to resume into it. "
            "Key the output directory by data commit and config hash, or delete that directory to start over."
        )
