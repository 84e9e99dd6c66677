"""Evaluation gate: candidate vs its base model and the champion on the pinned eval split, then promotion.

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


@flow(name="evaluate", log_prints=True, persist_result=True)
def evaluate_flow(
    candidate: Candidate,
    dataset: DatasetRef,
    policy: GatePolicy | None = None,
    eval_config: EvalConfig | None = None,
    promote: bool = True,
    index_collection: str | None = None,
) -> Decision | State:
    """Evaluate the candidate against its base and the champion, with retrieval; promote it only if the gate passes."""
    cand_eval, champ_eval, base_eval = evaluate_against_champion(
        candidate, dataset, eval_config or EvalConfig(), index_collection
    )
    decision = apply_gate(candidate, cand_eval, champ_eval, policy or GatePolicy(), base_eval)
    record_gate_outcome(candidate.model_name, candidate.version, decision.promote, decision.reasons, promote)
    print(
        f"candidate {candidate.uri}: rouge_l {cand_eval.metrics.get('rouge_l', float('nan')):.3f} "
        f"(without retrieval {cand_eval.metrics.get('rouge_l_no_retrieval', float('nan')):.3f}, base model "
        f"{base_eval.metrics.get('rouge_l', float('nan')):.3f}), perplexity {cand_eval.metrics['perplexity']:.1f}"
    )
    if not decision.promote:
        # "gate not met" is an outcome, not an error: a named Completed state with the decision
        return Completed(name="NotPromoted", message="; ".join(decision.reasons), data=decision)
    return decision
