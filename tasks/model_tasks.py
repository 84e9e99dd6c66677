"""Prefect tasks of the model stages: thin wrappers over tasks/modeling.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from llmops import clients
from llmops.settings import load_settings
from tasks import modeling
from tasks.datasets import DatasetRef
from tasks.evaluation.gate import Decision, EvalResult, GatePolicy
from tasks.evaluation.run import EvalConfig
from tasks.prefect_support import flow_run_metadata, transient_only
from tasks.training.config import FinetuneConfig

EXPERIMENT = "llmops-finetune"


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def train_and_register(dataset: DatasetRef, config: FinetuneConfig, eval_config: EvalConfig,
                       model_name: str) -> modeling.Candidate:
    """Fine-tune a LoRA adapter on the dataset (resuming a crashed run) and register it in MLflow."""
    settings = load_settings()
    mlflow = clients.mlflow_client(settings)
    logger = get_run_logger()
    candidate = modeling.finetune_and_register(
        clients.lakefs_client(settings), mlflow, dataset, config, model_name=model_name, experiment=EXPERIMENT,
        state_dir=settings.storage.state_dir, flow_run=flow_run_metadata(), eval_config=eval_config,
        log=logger.info)
    run_url = f"{settings.mlflow.base_url}/#/experiments/{mlflow.get_run(candidate.run_id).info.experiment_id}" \
              f"/runs/{candidate.run_id}"
    create_link_artifact(key="finetune-run", link=run_url,
                         link_text=f"MLflow run of {model_name} v{candidate.version}"
                                   + (" (reused: same data and config)" if candidate.reused else ""))
    return candidate


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def evaluate_against_champion(candidate: modeling.Candidate, dataset: DatasetRef,
                              eval_config: EvalConfig) -> tuple[EvalResult, EvalResult | None]:
    """Score the candidate and the current champion on the same pinned eval examples."""
    settings = load_settings()
    mlflow = clients.mlflow_client(settings)
    evals = modeling.read_split(clients.lakefs_client(settings), dataset, dataset.eval)
    from tasks import registry

    champion = registry.aliases(mlflow, candidate.model_name).get(registry.CHAMPION)
    with tempfile.TemporaryDirectory(prefix="llmops-eval-") as workdir:
        cand = modeling.evaluate_version(mlflow, candidate.model_name, candidate.version, evals, eval_config,
                                         Path(workdir) / "candidate")
        champ = None
        if champion is not None and champion != candidate.version:
            champ = modeling.evaluate_version(mlflow, candidate.model_name, champion, evals, eval_config,
                                              Path(workdir) / "champion")
    return cand, champ


@task
def decide_and_promote(candidate: modeling.Candidate, cand_eval: EvalResult, champ_eval: EvalResult | None,
                       policy: GatePolicy, promote: bool) -> Decision:
    """Apply the gate; move `champion` on success (when `promote`), else mark the candidate `challenger`."""
    mlflow = clients.mlflow_client(load_settings())
    decision = modeling.gate_and_promote(mlflow, candidate, cand_eval, champ_eval, policy, promote_now=promote)
    metrics = "\n".join(f"| {k} | {v:.4g} | {champ_eval.metrics.get(k, float('nan')) if champ_eval else '-'} |"
                        for k, v in sorted(cand_eval.metrics.items()))
    create_markdown_artifact(
        key="gate-decision",
        markdown=decision.markdown() + f"\n## Metrics ({candidate.uri})\n\n| metric | candidate | champion |\n"
                 f"|---|---|---|\n{metrics}\n\nCanary leaks: {cand_eval.canary_leaks}/{cand_eval.canary_total}; "
                 f"injection resistance: {cand_eval.injection_resistance}\n")
    return decision


@task(cache_policy=NO_CACHE)  # read it fresh each time: it moves within one lifecycle run
def current_champion(model_name: str) -> str | None:
    """The version the `champion` alias points to (None before the first promotion)."""
    from mlflow.exceptions import MlflowException

    from tasks import registry

    try:
        return registry.aliases(clients.mlflow_client(load_settings()), model_name).get(registry.CHAMPION)
    except MlflowException:
        return None
