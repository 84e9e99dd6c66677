"""Prefect tasks of the evaluate stage: thin wrappers over tasks/evaluate/run.py and gate.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from llmops import clients
from llmops.settings import load_settings
from tasks.evaluate.gate import Decision, GatePolicy
from tasks.evaluate.results import EvalConfig, EvalResult
from tasks.evaluate.run import evaluate_version, record_decision
from tasks.prepare import DatasetRef, read_split
from tasks.services.mlflow import CHAMPION, aliases
from tasks.shared.tasks import transient_only
from tasks.train import Candidate


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def evaluate_against_champion(
    candidate: Candidate, dataset: DatasetRef, eval_config: EvalConfig
) -> tuple[EvalResult, EvalResult | None]:
    """Score the candidate and the current champion on the same pinned eval examples."""
    settings = load_settings()
    mlflow = clients.mlflow_client(settings)
    evals = read_split(clients.lakefs_client(settings), dataset, dataset.eval)
    champion = aliases(mlflow, candidate.model_name).get(CHAMPION)
    with tempfile.TemporaryDirectory(prefix="llmops-eval-") as workdir:
        cand = evaluate_version(
            mlflow, candidate.model_name, candidate.version, evals, eval_config, Path(workdir) / "candidate"
        )
        champ = None
        if champion is not None and champion != candidate.version:
            champ = evaluate_version(
                mlflow, candidate.model_name, champion, evals, eval_config, Path(workdir) / "champion"
            )
    return cand, champ


@task
def apply_gate(
    candidate: Candidate, cand_eval: EvalResult, champ_eval: EvalResult | None, policy: GatePolicy
) -> Decision:
    """Decide whether the candidate may replace the champion; the decision goes to MLflow and the Prefect UI."""
    decision = record_decision(clients.mlflow_client(load_settings()), candidate.run_id, cand_eval, champ_eval, policy)
    metrics = "\n".join(
        f"| {k} | {v:.4g} | {champ_eval.metrics.get(k, float('nan')) if champ_eval else '-'} |"
        for k, v in sorted(cand_eval.metrics.items())
    )
    create_markdown_artifact(
        key="gate-decision",
        markdown=decision.markdown() + f"\n## Metrics ({candidate.uri})\n\n| metric | candidate | champion |\n"
        f"|---|---|---|\n{metrics}\n\nCanary leaks: {cand_eval.canary_leaks}/{cand_eval.canary_total}; "
        f"injection resistance: {cand_eval.injection_resistance}\n",
    )
    return decision
