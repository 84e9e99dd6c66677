"""The monitor stage: scheduled drift checks of live traffic, whose alarm can start a retrain.

    drift.py        check_drift: the sub-tests, Bonferroni across them, the report
    report.py       DriftPolicy (how it decides) and DriftReport / SubTest (what it found)
    statistics/     one module per statistic: classifier, mmd, outputs, retrieval
    window.py       the inputs: the champion's traffic window and the reference it is compared with
    reference.py    the reference: the first traffic after a release (or a designated set), recorded with it
    plots.py        the projection and similarity plots of the report
    errors.py       DriftInputError
    tasks.py        the Prefect tasks: the check, and the `llmops.drift.detected` event with its cooldown

Other code uses what this file exports.
"""

from tasks.monitor.drift import check_drift
from tasks.monitor.errors import DriftInputError
from tasks.monitor.reference import (
    REFERENCE_TAG,
    DriftReference,
    designated_rows,
    load_reference,
    read_questions,
    record_reference,
)
from tasks.monitor.report import DriftPolicy, DriftReport, SubTest
from tasks.monitor.window import EVENT, DriftWindow, reference_prompts, run_drift_check

__all__ = [
    "EVENT",
    "REFERENCE_TAG",
    "DriftInputError",
    "DriftPolicy",
    "DriftReference",
    "DriftReport",
    "DriftWindow",
    "SubTest",
    "check_drift",
    "designated_rows",
    "load_reference",
    "read_questions",
    "record_reference",
    "reference_prompts",
    "run_drift_check",
]
