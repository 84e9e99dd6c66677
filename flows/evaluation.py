"""Evaluation gate: candidate vs champion on the pinned eval split, then promotion by MLflow alias.

(Named evaluation.py, not evaluate.py: Prefect puts this folder on sys.path, where a file named
evaluate.py would hide the `evaluate` package.)
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, State

from tasks.evaluate import Decision, EvalConfig, GatePolicy
from tasks.evaluate.tasks import apply_gate, evaluate_against_champion
from tasks.prepare import DatasetRef
from tasks.release.tasks import record_gate_outcome
from tasks.train import Candidate


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    candidate: Candidate,
    dataset: DatasetRef,
    policy: GatePolicy | None = None,
    eval_config: EvalConfig | None = None,
    promote: bool = True,
) -> Decision | State:
    """Evaluate the candidate against the champion and promote it only if the gate passes."""
    cand_eval, champ_eval = evaluate_against_champion(candidate, dataset, eval_config or EvalConfig())
    decision = apply_gate(candidate, cand_eval, champ_eval, policy or GatePolicy())
    record_gate_outcome(candidate.model_name, candidate.version, decision.promote, decision.reasons, promote)
    if not decision.promote:
        # "gate not met" is an outcome, not an error: a named Completed state with the decision
        return Completed(name="NotPromoted", message="; ".join(decision.reasons), data=decision)
    return decision
