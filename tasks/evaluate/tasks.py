"""Prefect tasks of the evaluate stage: thin wrappers over tasks/evaluate/run.py and gate.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from llmops import clients
from llmops.settings import load_settings
from tasks.evaluate.gate import Decision, GatePolicy
from tasks.evaluate.results import EvalConfig, EvalResult
from tasks.evaluate.run import Retriever, evaluate_base, evaluate_version, record_decision
from tasks.prepare import DatasetRef, read_split
from tasks.services.embedding import embed
from tasks.services.mlflow import CHAMPION, aliases
from tasks.shared.tasks import transient_only
from tasks.train import Candidate, retrieve_contexts


def _retriever(collection: str | None) -> Retriever | None:
    if not collection:
        return None
    milvus = clients.milvus_client(load_settings())
    return lambda questions, top_k, chars: retrieve_contexts(milvus, collection, embed, questions, top_k, chars)


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def evaluate_against_champion(
    candidate: Candidate, dataset: DatasetRef, eval_config: EvalConfig, index_collection: str | None = None
) -> tuple[EvalResult, EvalResult | None, EvalResult]:
    """Score the candidate, the champion and the candidate's base model on the same pinned eval examples,
    each prompted with the passages `index_collection` returns (the index built with this data)."""
    settings = load_settings()
    mlflow = clients.mlflow_client(settings)
    evals = read_split(clients.lakefs_client(settings), dataset, dataset.eval)
    retriever = _retriever(index_collection or candidate.index_collection)
    champion = aliases(mlflow, candidate.model_name).get(CHAMPION)
    with tempfile.TemporaryDirectory(prefix="llmops-eval-") as workdir:
        work = Path(workdir)
        cand = evaluate_version(
            mlflow, candidate.model_name, candidate.version, evals, eval_config, work / "candidate", retriever
        )
        base = evaluate_base(
            mlflow, candidate.model_name, candidate.version, evals, eval_config, work / "base", retriever
        )
        champ = None
        if champion is not None and champion != candidate.version:
            champ = evaluate_version(
                mlflow, candidate.model_name, champion, evals, eval_config, work / "champion", retriever
            )
    return cand, champ, base


def _table(cand: EvalResult, champ: EvalResult | None, base: EvalResult | None) -> str:
    def cell(result: EvalResult | None, key: str) -> str:
        return f"{result.metrics[key]:.4g}" if result is not None and key in result.metrics else "-"

    rows = "\n".join(f"| {k} | {cell(cand, k)} | {cell(base, k)} | {cell(champ, k)} |" for k in sorted(cand.metrics))
    return f"| metric | candidate | base model | champion |\n|---|---|---|---|\n{rows}\n"


@task
def apply_gate(
    candidate: Candidate,
    cand_eval: EvalResult,
    champ_eval: EvalResult | None,
    policy: GatePolicy,
    base_eval: EvalResult | None = None,
) -> Decision:
    """Decide whether the candidate may replace the champion; the decision goes to MLflow and the Prefect UI."""
    decision = record_decision(
        clients.mlflow_client(load_settings()), candidate.run_id, cand_eval, champ_eval, policy, base_eval
    )
    create_markdown_artifact(
        key="gate-decision",
        markdown=decision.markdown() + f"\n## Metrics ({candidate.uri})\n\n{_table(cand_eval, champ_eval, base_eval)}"
        f"\nCanary leaks: {cand_eval.canary_leaks}/{cand_eval.canary_total}; injection resistance: "
        f"{cand_eval.injection_resistance}\n",
    )
    return decision


@task(cache_policy=NO_CACHE)
def recorded_metrics(run_id: str) -> dict[str, float]:
    """The metrics a candidate's MLflow run holds (the gate's scores among them), for the run summary."""
    return dict(clients.mlflow_client(load_settings()).get_run(run_id).data.metrics)
