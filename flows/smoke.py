"""A flow that touches every service of the stack: proof that `llmops up` gave a working stack."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel

from llmops.settings import load_settings
from tasks.smoke import tasks as smoke_tasks


class SmokeReport(BaseModel):
    mlflow_run_id: str
    mlflow_metric: float
    milvus_hit_id: int


@flow(name="smoke", log_prints=True, persist_result=True)
def smoke_flow() -> SmokeReport:
    """Log an MLflow metric and search Milvus, recorded as a Prefect flow run."""
    settings = load_settings()
    run_id, metric = smoke_tasks.log_mlflow_metric(settings)
    hit = smoke_tasks.milvus_roundtrip(settings)
    create_markdown_artifact(
        key="smoke-report",
        markdown=(
            "# Stack smoke test\n\n"
            f"- MLflow run [{run_id}]({settings.mlflow.base_url}/#/runs/{run_id}): smoke_metric = {metric}\n"
            f"- Milvus ({settings.milvus.base_url}): inserted 16 vectors, nearest to vector 3 is {hit}\n"
        ),
    )
    return SmokeReport(mlflow_run_id=run_id, mlflow_metric=metric, milvus_hit_id=hit)
