"""Prefect tasks of the pretrain stage: a thin wrapper over tasks/pretrain/run.py."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from llmops import clients
from llmops.settings import load_settings
from tasks.prepare import DatasetRef
from tasks.pretrain.config import PretrainConfig
from tasks.pretrain.run import BaseModelRef, pretrain_and_register
from tasks.shared.tasks import ProgressArtifact, flow_run_metadata, transient_only


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def pretrain_base(dataset: DatasetRef, config: PretrainConfig) -> BaseModelRef:
    """Pretrain the base model on the dataset's corpus, or reuse the one trained on the same corpus and recipe."""
    settings = load_settings()
    mlflow = clients.mlflow_client(settings)
    progress = ProgressArtifact("pretrain-progress", "Pretraining the base model")
    base = pretrain_and_register(
        clients.lakefs_client(settings),
        mlflow,
        dataset,
        config,
        state_dir=settings.storage.state_dir,
        flow_run=flow_run_metadata(),
        log=get_run_logger().info,
        progress=progress.update,
    )
    progress.update(1, 1, "done")
    run = mlflow.get_run(base.run_id)
    create_link_artifact(
        key="pretrain-run",
        link=f"{settings.mlflow.base_url}/#/experiments/{run.info.experiment_id}/runs/{base.run_id}",
        link_text=f"MLflow run of {base.model_name} v{base.version}"
        + (" (reused: same corpus and recipe)" if base.reused else ""),
    )
    create_markdown_artifact(
        key="pretrain-report",
        markdown=(
            f"# Base model `{base.uri}`\n\n"
            f"- held-out perplexity: {base.initial_heldout_perplexity} (random weights) → "
            f"{base.heldout_perplexity} (trained)\n- {base.tokens_per_s or 0:,.0f} tokens/s over "
            f"{base.train_seconds or 0:.0f} s of training\n- corpus digest `{base.corpus_digest[:12]}`, "
            f"recipe `{base.recipe_hash[:12]}`{' (reused)' if base.reused else ''}\n"
        ),
    )
    return base
