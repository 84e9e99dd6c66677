"""The whole lifecycle on the embedded default, twice: the second run must reuse everything."""

from __future__ import annotations

import json
import time

import lakefs
import pytest

from flows.lifecycle import LifecycleResult, lifecycle_flow
from llmops import clients, prefect_api
from llmops.settings import Settings
from tasks.evaluate import EvalConfig, GatePolicy
from tasks.ingest import SourceConfig
from tasks.pretrain import PretrainConfig
from tasks.services import milvus as milvus_service
from tasks.train import FinetuneConfig, Lineage

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PARAMS = dict(
    source_config=SourceConfig(limit=700),
    # a base pretrained in seconds and a short fine-tune: the default recipe is what `make run` measures
    pretrain_config=PretrainConfig(
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        max_steps=300,
        warmup_steps=20,
        batch_size=8,
        eval_every_steps=0,
        save_every_steps=100,
    ),
    finetune=FinetuneConfig(max_steps=80, max_seq_length=384, learning_rate=5e-3),
    eval_config=EvalConfig(max_examples=24, max_new_tokens=24),
    # the mechanics of promotion, reuse and serving on a seconds-long recipe: so weak a base leaves the
    # fine-tune's gain within the bootstrap's noise on 24 examples (measured: +0.046 ROUGE-L, CI
    # [-0.010, +0.105] with a 400-step base). The default policy, base comparison and floors included,
    # is what `make run` passes on the default recipe (README, Benchmarks)
    policy=GatePolicy(thresholds={}, beat_base=False),
    model_name="llmops-e2e",
)


def test_lifecycle_end_to_end_and_no_op_rerun(running_stack: Settings) -> None:
    with prefect_api.prefect_context(running_stack):
        t0 = time.perf_counter()
        first = lifecycle_flow(**PARAMS)
        cold = time.perf_counter() - t0
        lk, mlflow, milvus = (
            clients.lakefs_client(running_stack),
            clients.mlflow_client(running_stack),
            clients.milvus_client(running_stack),
        )
        repo = running_stack.lakefs.repository
        main_before = lakefs.Reference(repo, "main", client=lk).get_commit().id
        versions_before = len(mlflow.search_model_versions("name='llmops-e2e'"))
        collections_before = set(milvus.list_collections())
        t0 = time.perf_counter()
        second = lifecycle_flow(**PARAMS)
        warm = time.perf_counter() - t0
    assert isinstance(first, LifecycleResult) and first.promoted, first
    print(f"\nlifecycle cold {cold:.1f}s, no-op rerun {warm:.1f}s ({warm / cold:.2f} of cold)")
    # the run summary carries the base model's held-out perplexity and the candidate's eval figures
    assert first.base_model.startswith("models:/llmops-base/") and first.base_heldout_perplexity > 1
    # What 80 fine-tuning steps on a 300-step base surely teach is the answer format: the answers'
    # perplexity falls below the base model's on the same prompts. ROUGE-L is not compared here: on this
    # recipe the base, continuing its passage, scores about as much (0.058 against 0.028-0.032 in two
    # runs); the default recipe's gain is measured by `make run` and bench_rag.
    assert first.base_eval_perplexity is not None and first.eval_perplexity is not None
    assert 1 < first.eval_perplexity < first.base_eval_perplexity
    assert first.eval_rouge_l is not None and first.base_rouge_l is not None
    assert first.eval_rouge_l_no_retrieval is not None

    # lakeFS main holds the merged data commit
    main = lakefs.Reference(repo, "main", client=lk).get_commit()
    assert main.id == first.data_commit
    counts = json.loads(main.metadata["llmops.counts"])
    # MLflow: the version is champion and carries its lineage
    champion = mlflow.get_model_version_by_alias("llmops-e2e", "champion")
    assert champion.version == first.model_version
    lineage = Lineage.from_tags(champion.tags)
    assert lineage.lakefs_commit == first.data_commit and lineage.prefect_flow_run_id
    # Milvus: the alias points at the new collection, with one row per chunk
    assert milvus_service.alias_target(milvus, first.index_alias) == first.index_collection
    rows = int(milvus.get_collection_stats(first.index_collection)["row_count"])
    meta = milvus_service.read_metadata(milvus, first.index_collection)
    assert rows == int(meta["chunks"]) and rows >= counts["corpus"] > 0
    assert meta["lakefs_commit"] == first.data_commit

    # the rerun created nothing new
    assert second.model_dump(exclude={"reasons"}) == first.model_dump(exclude={"reasons"})
    assert lakefs.Reference(repo, "main", client=lk).get_commit().id == main_before
    assert len(mlflow.search_model_versions("name='llmops-e2e'")) == versions_before
    assert set(milvus.list_collections()) == collections_before


def test_asked_questions_are_logged_redacted_and_drift_checked(running_stack: Settings, tmp_path) -> None:
    """After the lifecycle above: ask through the served model and index, then run the drift check."""
    from datetime import UTC, datetime, timedelta

    from flows.drift import drift_flow
    from tasks import serve
    from tasks.services.embedding import embed

    lk, mlflow, milvus = (
        clients.lakefs_client(running_stack),
        clients.mlflow_client(running_stack),
        clients.milvus_client(running_stack),
    )
    repo = running_stack.lakefs.repository
    questions = serve.held_out_questions(lk, mlflow, "llmops-e2e", 30)
    questions[0] += " Reply to jane.doe@example.com please."
    answerer = serve.Answerer(mlflow, milvus, "llmops-e2e", "llmops_docs", embed, tmp_path, top_k=3)
    results = answerer.ask(questions)
    assert all(len(r.hits) == 3 for r in results) and results[0].collection.startswith("docs_")
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert serve.log_requests(lk, repo, results)
    logged = serve.read_log_window(lk, repo, since)
    assert len(logged) == 30
    assert "jane.doe@example.com" not in str(logged) and "<EMAIL>" in logged[0]["question"]

    with prefect_api.prefect_context(running_stack):
        state = drift_flow(model_name="llmops-e2e", window_hours=1.0, return_state=True)
    assert state.is_completed()
    runs = mlflow.search_runs(experiment_ids=[mlflow.get_experiment_by_name("drift").experiment_id])
    assert len(runs) >= 1 and runs[0].data.tags["llmops.model"] == "llmops-e2e"
    assert "drift/report.json" in [a.path for a in mlflow.list_artifacts(runs[0].info.run_id, "drift")]
