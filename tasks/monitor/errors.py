"""The exceptions the monitoring code raises on purpose.

    LLMOpsError                  (llmops.errors) base of every llmops error
    └── MonitoringError          a drift check could not run
        ├── DriftInputError      embeddings, outputs or similarities are malformed (shape, NaN, mismatch)
        └── EmbedderNotFoundError  the embedding model directory does not exist

Each message says what to change. Anything else escaping `check_drift` or `embed` is a bug.
"""

from __future__ import annotations

from llmops.errors import LLMOpsError


class MonitoringError(LLMOpsError):
    """A drift check could not run."""


class DriftInputError(MonitoringError, ValueError):
    """An input of the drift check is malformed."""
