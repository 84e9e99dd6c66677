"""The evaluate stage: candidate and champion scored on the same pinned eval examples, then the gate.

    results.py   EvalConfig (how a model is evaluated) and EvalResult (what comes out)
    metrics/     one local `evaluate` module per metric (rouge_l, chrf, bleu, exact_match, perplexity);
                 each metric keeps its directory's name as its key, in MLflow and in the gate
    scoring.py   generations and likelihoods to per-example scores through those modules
    safety.py    canary and prompt-injection probes
    run.py       evaluate_model / evaluate_version, and recording the gate's decision on the MLflow run
    gate.py      GatePolicy, Decision and decide(): a pure function, tested with a table of cases
    tasks.py     the Prefect tasks over run.py and gate.py

Other stages use what this file exports.
"""

from tasks.evaluate.gate import Decision, GatePolicy, decide, paired_bootstrap
from tasks.evaluate.results import EvalConfig, EvalResult
from tasks.evaluate.run import evaluate_model, evaluate_version, record_decision

__all__ = [
    "Decision",
    "EvalConfig",
    "EvalResult",
    "GatePolicy",
    "decide",
    "evaluate_model",
    "evaluate_version",
    "paired_bootstrap",
    "record_decision",
]
