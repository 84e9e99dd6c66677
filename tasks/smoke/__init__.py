"""Round trips through each service of the stack, used by the smoke flow (no Prefect here)."""

from __future__ import annotations

import random
import uuid

from llmops import clients
from llmops.settings import Settings


def log_mlflow_metric(settings: Settings, experiment: str = "llmops-smoke") -> tuple[str, float]:
    """Create a run with one metric and read it back; return (run id, metric value)."""
    client = clients.mlflow_client(settings)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    run = client.create_run(exp_id, run_name="smoke")
    value = round(random.random(), 6)
    client.log_metric(run.info.run_id, "smoke_metric", value)
    client.set_terminated(run.info.run_id)
    stored = client.get_run(run.info.run_id).data.metrics["smoke_metric"]
    return run.info.run_id, stored


def milvus_roundtrip(settings: Settings, dim: int = 8, rows: int = 16) -> int:
    """Insert vectors into a throw-away collection and search one of them; return the hit's id."""
    client = clients.milvus_client(settings)
    name = f"llmops_smoke_{uuid.uuid4().hex[:8]}"
    try:
        client.create_collection(name, dimension=dim, metric_type="COSINE")
        rng = random.Random(0)
        data = [{"id": i, "vector": [rng.uniform(-1, 1) for _ in range(dim)]} for i in range(rows)]
        client.insert(name, data)
        hits = client.search(name, data=[data[3]["vector"]], limit=1)
        return int(hits[0][0]["id"])
    finally:
        client.drop_collection(name)
        client.close()
