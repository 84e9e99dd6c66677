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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_the_openai_client_is_answered_by_llmops_serve(running_stack: Settings, tmp_path) -> None:
    """After the lifecycle above: `llmops serve` in its own process, called with the official openai package."""
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta

    import httpx
    import openai

    from llmops.settings import load_serve_settings
    from tasks import serve

    lk, mlflow = clients.lakefs_client(running_stack), clients.mlflow_client(running_stack)
    repo, port = running_stack.lakefs.repository, _free_port()
    since = datetime.now(UTC) - timedelta(minutes=1)
    env = dict(
        os.environ,
        LLMOPS_SERVE_PORT=str(port),
        LLMOPS_SERVE_MODEL="llmops-e2e",
        LLMOPS_SERVE_REFRESH_S="1",
        LLMOPS_SERVE_MAX_TOKENS="24",
        LLMOPS_SERVE_LOG_FLUSH_S="600",  # the batch is written when the server stops: one commit, not one a request
    )
    out = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "llmops.cli", "serve"], env=env, stdout=out, stderr=out)
    champion = mlflow.get_model_version_by_alias("llmops-e2e", "champion")
    try:
        base_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(f"{base_url}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        _wait_for(healthy, 180, "llmops serve to start")
        key = load_serve_settings().api_key.get_secret_value()
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, timeout=300)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-wrong").models.list()
        assert [m.id for m in client.models.list().data] == ["llmops-e2e"]

        questions = serve.held_out_questions(lk, mlflow, "llmops-e2e", 2, seed=7)
        asked = questions[0] + " Write to jane.doe@example.com."
        messages = [{"role": "user", "content": asked}]
        t0 = time.perf_counter()
        first = client.chat.completions.create(model="llmops-e2e", messages=messages)
        cold_s = time.perf_counter() - t0
        assert first.choices[0].message.content and first.choices[0].finish_reason in ("stop", "length")
        sources, extra = first.model_extra["sources"], first.model_extra["llmops"]
        assert sources and sources[0]["n"] == 1 and sources[0]["doc_id"] and extra["cached"] is False
        assert extra["model_version"] == str(champion.version) and extra["collection"].startswith("docs_")

        # the same question, whitespace aside: served from the cache, faster, flagged
        t0 = time.perf_counter()
        again = client.chat.completions.create(
            model="llmops-e2e", messages=[{"role": "user", "content": f"  {asked} "}]
        )
        warm_s = time.perf_counter() - t0
        assert again.model_extra["llmops"]["cached"] is True and warm_s < cold_s
        assert again.choices[0].message.content == first.choices[0].message.content
        assert again.model_extra["sources"] == sources

        # streamed: the answer comes in pieces, the sources with the last chunk
        chunks = list(
            client.chat.completions.create(
                model="llmops-e2e", messages=[{"role": "user", "content": questions[1]}], stream=True
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.strip() and len(chunks) >= 4, [c.choices[0].delta for c in chunks]
        assert chunks[-1].choices[0].finish_reason in ("stop", "length") and chunks[-1].model_extra["sources"]

        # an alias flip, picked up without a restart: a new version of the champion's model moves `champion`
        flipped = mlflow.create_model_version(
            "llmops-e2e", champion.source, run_id=champion.run_id, tags=dict(champion.tags)
        )
        mlflow.set_registered_model_alias("llmops-e2e", "champion", flipped.version)

        def serving_flipped() -> bool:
            return client.models.list().data[0].model_extra["llmops"]["model_version"] == str(flipped.version)

        _wait_for(serving_flipped, 120, f"the endpoint to serve v{flipped.version}")
        after = client.chat.completions.create(model="llmops-e2e", messages=messages)
        assert after.model_extra["llmops"]["model_version"] == str(flipped.version)
        assert after.model_extra["llmops"]["cached"] is False  # the cache key holds the version

        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4o", messages=messages)
    finally:
        mlflow.set_registered_model_alias("llmops-e2e", "champion", champion.version)
        server.terminate()
        server.wait(timeout=60)
        out.close()
    log_text = (tmp_path / "serve.log").read_text()
    # every request, redacted, in one commit of the logs branch when the server stopped
    logged = {r["request_id"]: r for r in serve.read_log_window(lk, repo, since)}
    for reply in (first, again, after):
        assert reply.model_extra["llmops"]["request_id"] in logged, log_text[-3000:]
    record = logged[first.model_extra["llmops"]["request_id"]]
    assert "jane.doe@example.com" not in json.dumps(record) and "<EMAIL>" in record["question"]
    newest = next(iter(lakefs.Reference(repo, "logs", client=lk).log(max_amount=1)))
    assert newest.metadata.get("llmops.requests") == "4"  # first, again, the streamed one, after the flip
