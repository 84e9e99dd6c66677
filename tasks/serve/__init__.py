"""The serve stage: answers from the champion and the serving index, and the inference log they leave.

    answerer.py       Answerer (model and index loaded once), AskResult, held-out demo questions
    inference_log.py  redacted requests appended to the lakeFS `logs` branch, read back by time window

Other stages (the drift check) use what this file exports.
"""

from tasks.serve.answerer import Answerer, AskResult, Hit, held_out_questions
from tasks.serve.inference_log import LOGS_BRANCH, LOGS_PREFIX, log_requests, read_log_window, redacted_record

__all__ = [
    "LOGS_BRANCH",
    "LOGS_PREFIX",
    "Answerer",
    "AskResult",
    "Hit",
    "held_out_questions",
    "log_requests",
    "read_log_window",
    "redacted_record",
]
