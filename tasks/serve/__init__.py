"""The serve stage: answers from the champion and the serving index, and the inference log they leave.

    answerer.py       Answerer (model and index loaded once), AskResult, held-out demo questions
    inference_log.py  redacted requests appended to the lakeFS `logs` branch (RequestLog: in batches), read back
    endpoint.py       the OpenAI-compatible serving endpoint (`llmops serve`): Champion follows the aliases
    cache.py          its response cache: in memory, or Redis

Other stages (the drift check) use what this file exports.
"""

from tasks.serve.answerer import Answerer, AskResult, Hit, held_out_questions
from tasks.serve.cache import MemoryCache, RedisCache, cache_key, open_cache
from tasks.serve.endpoint import Champion, ServingError, create_app, workdir_loader
from tasks.serve.inference_log import (
    LOGS_BRANCH,
    LOGS_PREFIX,
    RequestLog,
    log_requests,
    read_log_window,
    redacted_record,
)

__all__ = [
    "LOGS_BRANCH",
    "LOGS_PREFIX",
    "Answerer",
    "AskResult",
    "Champion",
    "Hit",
    "MemoryCache",
    "RedisCache",
    "RequestLog",
    "ServingError",
    "cache_key",
    "create_app",
    "held_out_questions",
    "open_cache",
    "workdir_loader",
    "log_requests",
    "read_log_window",
    "redacted_record",
]
