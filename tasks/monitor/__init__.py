"""The monitor stage: scheduled drift checks of live traffic, whose alarm can start a retrain.

    drift.py        check_drift: the sub-tests, Bonferroni across them, the report
    report.py       DriftPolicy (how it decides) and DriftReport / SubTest (what it found)
    statistics/     one module per statistic: classifier, mmd, outputs, retrieval
    window.py       the inputs: the inference-log window and the reference it is compared with
    plots.py        the projection and similarity plots of the report
    errors.py       DriftInputError
    tasks.py        the Prefect tasks: the check, and the `llmops.drift.detected` event with its cooldown

Other code uses what this file exports.
"""

from tasks.monitor.drift import check_drift
from tasks.monitor.errors import DriftInputError
from tasks.monitor.report import DriftPolicy, DriftReport, SubTest
from tasks.monitor.window import EVENT, DriftWindow, reference_prompts, run_drift_check

__all__ = [
    "EVENT",
    "DriftInputError",
    "DriftPolicy",
    "DriftReport",
    "DriftWindow",
    "SubTest",
    "check_drift",
    "reference_prompts",
    "run_drift_check",
]
