"""Fine-tune → register → evaluate → gate → promote against the local stack, on a small slice of the default corpus."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import lakefs
import pandas as pd
import pytest
import torch
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.evaluation import evaluate_flow
from flows.ingest import ingest_flow
from flows.prepare import prepare_flow
from flows.train import train_flow
from llmops import clients
from llmops.settings import Settings, load_settings
from tasks.evaluate import EvalConfig
from tasks.ingest import PYTHON_DOCS_URI, SourceConfig
from tasks.prepare import DatasetRef, PrepConfig, read_split
from tasks.services.mlflow import aliases
from tasks.train import FinetuneConfig, Lineage, load_adapter_model, load_version, logits_for

pytestmark = pytest.mark.integration

MODEL = "llmops-test-model"
GOOD = FinetuneConfig(
    max_steps=60, per_device_batch_size=8, learning_rate=2e-3, max_seq_length=128, save_every_steps=20
)
EVAL = EvalConfig(max_examples=24, max_new_tokens=24)


@pytest.fixture(scope="module")
def stack(running_stack: Settings) -> Iterator[Settings]:
    with (
        pytest.MonkeyPatch.context() as mp,
        temporary_settings(updates={PREFECT_API_URL: running_stack.prefect.api_url}),
    ):
        mp.setenv("LLMOPS_LAKEFS_REPOSITORY", "model-tests")
        yield load_settings()


@pytest.fixture(scope="module")
def dataset(stack: Settings) -> DatasetRef:
    raw = ingest_flow(sources=[PYTHON_DOCS_URI], source_config=SourceConfig(limit=900))
    return prepare_flow(raw=raw, prep_config=PrepConfig(eval_fraction=0.1))


def _texts(dataset: DatasetRef, stack: Settings) -> list[str]:
    evals = read_split(clients.lakefs_client(stack), dataset, dataset.eval)
    return (evals["prompt"] + "\n" + evals["response"]).head(4).tolist()


def test_registered_version_loaded_by_alias_reproduces_the_trained_logits(
    stack: Settings, dataset: DatasetRef, tmp_path: Path
) -> None:
    candidate = train_flow(dataset=dataset, finetune=GOOD, eval_config=EVAL, model_name=MODEL)
    assert not candidate.reused and candidate.steps == 60
    assert candidate.final_eval_loss < candidate.initial_eval_loss
    decision = evaluate_flow(candidate=candidate, dataset=dataset, eval_config=EVAL)
    assert decision.promote, decision.reasons
    mlflow = clients.mlflow_client(stack)
    assert aliases(mlflow, MODEL)["champion"] == candidate.version

    trained_dir = (
        stack.storage.state_dir / "checkpoints" / f"{dataset.commit[:16]}-{GOOD.config_hash()[:16]}" / "adapter"
    )
    trained, tokenizer = load_adapter_model(trained_dir)
    served, served_tokenizer, _ = load_version(mlflow, MODEL, "champion", tmp_path / "served")
    texts = _texts(dataset, stack)
    for a, b in zip(logits_for(trained, tokenizer, texts), logits_for(served, served_tokenizer, texts), strict=False):
        assert torch.allclose(a, b, atol=1e-5)
    with trained.disable_adapter():  # the adapter must matter, or the comparison above proves nothing
        base = logits_for(trained, tokenizer, texts)
    assert not torch.allclose(base[0], logits_for(trained, tokenizer, texts)[0], atol=1e-3)

    again = train_flow(dataset=dataset, finetune=GOOD, eval_config=EVAL, model_name=MODEL)
    assert again.reused and again.version == candidate.version


def test_a_worse_candidate_is_not_promoted_and_the_champion_stays(stack: Settings, dataset: DatasetRef) -> None:
    mlflow = clients.mlflow_client(stack)
    champion = aliases(mlflow, MODEL)["champion"]
    worse = train_flow(
        dataset=dataset,
        model_name=MODEL,
        eval_config=EVAL,
        finetune=GOOD.model_copy(update={"max_steps": 2, "learning_rate": 1e-5}),
    )
    state = evaluate_flow(candidate=worse, dataset=dataset, eval_config=EVAL, return_state=True)
    assert state.is_completed() and state.name == "NotPromoted"
    assert "vs champion" in state.message
    assert aliases(mlflow, MODEL)["champion"] == champion
    assert aliases(mlflow, MODEL)["challenger"] == worse.version
    decision = mlflow.download_artifacts(worse.run_id, "gate/decision.json")
    assert '"promote": false' in Path(decision).read_text()


def test_lineage_from_a_model_version_alone(stack: Settings, dataset: DatasetRef) -> None:
    mlflow = clients.mlflow_client(stack)
    version = mlflow.get_model_version_by_alias(MODEL, "champion")
    lineage = Lineage.from_tags(version.tags)
    client = clients.lakefs_client(stack)
    with (
        lakefs.Reference(lineage.lakefs_repository, lineage.lakefs_commit, client=client)
        .object(lineage.train_path)
        .reader(mode="rb") as f
    ):
        from_lineage = pd.read_parquet(io.BytesIO(f.read()))
    assert from_lineage.equals(read_split(client, dataset, [dataset.train[0]]))
    with SyncPrefectClient(stack.prefect.api_url) as prefect:
        run = prefect.read_flow_run(lineage.prefect_flow_run_id)
    assert run.name and lineage.prefect_flow_run_url.endswith(str(run.id))
    assert mlflow.get_run(version.run_id).data.tags["llmops.lakefs_commit"] == dataset.commit
