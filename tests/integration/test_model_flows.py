"""Fine-tune → register → evaluate → gate → promote against the local stack, on a small slice of the default corpus."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import lakefs
import pandas as pd
import pytest
import torch

from flows.evaluation import evaluate_flow
from flows.ingest import ingest_flow
from flows.prepare import prepare_flow
from flows.train import train_flow
from llmops import clients, prefect_api
from llmops.settings import Settings, load_settings
from tasks.evaluate import EvalConfig, GatePolicy
from tasks.ingest import PYTHON_DOCS_URI, SourceConfig
from tasks.prepare import DatasetRef, PrepConfig, read_split
from tasks.pretrain import EmbeddedModelSpec, PretrainConfig, build_embedded_model
from tasks.release import promote
from tasks.services.mlflow import aliases
from tasks.train import FinetuneConfig, Lineage, finetune_and_register, load_adapter_model, load_version, logits_for

pytestmark = pytest.mark.integration

MODEL = "llmops-test-model"
GOOD = FinetuneConfig(
    max_steps=60, per_device_batch_size=8, learning_rate=5e-3, max_seq_length=384, save_every_steps=20
)
EVAL = EvalConfig(max_examples=24, max_new_tokens=24)
# A base pretrained in seconds: these tests are about registration, lineage and the gate's plumbing.
TINY_PRETRAIN = PretrainConfig(
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=2,
    max_steps=300,
    warmup_steps=20,
    batch_size=8,
    eval_every_steps=0,
    save_every_steps=100,
)
# No floors and no base comparison for a model trained for a minute: the defaults' floors are tested in
# tests/unit/evaluate/test_gate.py, and the full default gate on the embedded default by `make run`.
LENIENT = GatePolicy(thresholds={}, beat_base=False)


@pytest.fixture(scope="module")
def stack(running_stack: Settings) -> Iterator[Settings]:
    with (
        pytest.MonkeyPatch.context() as mp,
        prefect_api.prefect_context(running_stack),
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
    candidate = train_flow(
        dataset=dataset, finetune=GOOD, eval_config=EVAL, model_name=MODEL, pretrain_config=TINY_PRETRAIN
    )
    assert not candidate.reused and candidate.steps == 60
    assert candidate.final_eval_loss < candidate.initial_eval_loss
    assert candidate.base_model.startswith("models:/llmops-base/") and candidate.index_collection
    decision = evaluate_flow(
        candidate=candidate,
        dataset=dataset,
        eval_config=EVAL,
        policy=LENIENT,
        index_collection=candidate.index_collection,
    )
    assert decision.promote, decision.reasons
    mlflow = clients.mlflow_client(stack)
    assert aliases(mlflow, MODEL)["champion"] == candidate.version

    key = mlflow.get_model_version(MODEL, candidate.version).tags["llmops.run_key"]
    trained_dir = stack.storage.state_dir / "checkpoints" / f"{dataset.commit[:16]}-{key[:16]}" / "adapter"
    trained, tokenizer = load_adapter_model(trained_dir)
    served, served_tokenizer, _ = load_version(mlflow, MODEL, "champion", tmp_path / "served")
    texts = _texts(dataset, stack)
    for a, b in zip(logits_for(trained, tokenizer, texts), logits_for(served, served_tokenizer, texts), strict=False):
        assert torch.allclose(a, b, atol=1e-5)
    with trained.disable_adapter():  # the adapter must matter, or the comparison above proves nothing
        base = logits_for(trained, tokenizer, texts)
    assert not torch.allclose(base[0], logits_for(trained, tokenizer, texts)[0], atol=1e-3)

    again = train_flow(
        dataset=dataset, finetune=GOOD, eval_config=EVAL, model_name=MODEL, pretrain_config=TINY_PRETRAIN
    )
    assert again.reused and again.version == candidate.version


def test_a_worse_candidate_is_not_promoted_and_the_champion_stays(stack: Settings, dataset: DatasetRef) -> None:
    mlflow = clients.mlflow_client(stack)
    champion = aliases(mlflow, MODEL)["champion"]
    worse = train_flow(
        dataset=dataset,
        model_name=MODEL,
        eval_config=EVAL,
        finetune=GOOD.model_copy(update={"max_steps": 2, "learning_rate": 1e-5}),
        pretrain_config=TINY_PRETRAIN,
    )
    state = evaluate_flow(candidate=worse, dataset=dataset, eval_config=EVAL, policy=LENIENT, return_state=True)
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
    with prefect_api.prefect_client(stack) as prefect:
        run = prefect.read_flow_run(lineage.prefect_flow_run_id)
    assert run.name and lineage.prefect_flow_run_url.endswith(str(run.id))
    assert mlflow.get_run(version.run_id).data.tags["llmops.lakefs_commit"] == dataset.commit


HUB_SCRIPT = """
import json, sys
from pathlib import Path
import torch
from mlflow import MlflowClient
from tasks.train import load_version, logits_for
url, name, texts, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
model, tokenizer, _ = load_version(MlflowClient(url, url), name, "champion", Path("served"))
torch.save(logits_for(model, tokenizer, texts), out)
"""


def test_a_hub_base_reloads_offline_in_a_fresh_process_and_canaries_key_the_version(
    stack: Settings, dataset: DatasetRef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base given as a hub id (from a Hugging Face cache in the hub layout, offline) is fine-tuned,
    registered and loaded by alias in a new process in another directory: the logits match."""
    import subprocess
    import sys

    import huggingface_hub.constants

    commit = "5" * 40
    repo = tmp_path / "hub" / "models--acme--tiny-llama"
    texts = _texts(dataset, stack)
    build_embedded_model(
        texts * 5, repo / "snapshots" / commit, EmbeddedModelSpec(vocab_size=400, hidden_size=32, intermediate_size=64)
    )
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    mlflow, lk = clients.mlflow_client(stack), clients.lakefs_client(stack)
    config = GOOD.model_copy(
        update={"base_model": "acme/tiny-llama", "max_steps": 6, "retrieval_top_k": 0, "max_seq_length": 128}
    )
    name = "llmops-hub-test"

    def finetune(canary_seed: int):
        return finetune_and_register(
            lk,
            mlflow,
            dataset,
            config,
            model_name=name,
            experiment="hub-test",
            state_dir=tmp_path / "state",
            flow_run={},
            canaries=2,
            canary_seed=canary_seed,
        )

    candidate = finetune(0)
    lineage = Lineage.from_tags(mlflow.get_model_version(name, candidate.version).tags)
    assert (lineage.base_model, lineage.base_model_revision) == ("acme/tiny-llama", commit)
    promote(mlflow, name, candidate.version, reason="hub reload test")

    key = lineage.run_key
    trained, tokenizer = load_adapter_model(
        tmp_path / "state" / "checkpoints" / f"{dataset.commit[:16]}-{key[:16]}" / "adapter"
    )
    expected = logits_for(trained, tokenizer, texts)
    # Another machine: the cache lives elsewhere, so the base path the adapter recorded does not exist there.
    (tmp_path / "hub").rename(tmp_path / "other-cache")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **clients.process_env(stack),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "other-cache"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    out = tmp_path / "served.pt"
    result = subprocess.run(
        [sys.executable, "-c", HUB_SCRIPT, stack.mlflow.base_url, name, json.dumps(texts), str(out)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for a, b in zip(expected, torch.load(out), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    (tmp_path / "other-cache").rename(tmp_path / "hub")

    # The canaries are training data: another seed is another version; the same seed is the same one.
    other = finetune(1)
    assert other.version != candidate.version and not other.reused
    assert finetune(0).reused and finetune(0).version == candidate.version
