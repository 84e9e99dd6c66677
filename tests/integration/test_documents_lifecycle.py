"""A folder of plain Markdown and text documents, no question/answer pairs, runs the whole lifecycle
through `llmops run lifecycle --param sources=...`, as a user would: deployed, run by the worker.

The documents (tests/data/docs_corpus/) were written for this test, about a made-up data platform;
nothing of the built-in corpus is in them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import local_stack
from llmops import clients
from llmops.settings import Settings, find_project_root

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

DOCS = Path(__file__).resolve().parents[1] / "data" / "docs_corpus"
MODEL = "llmops-docs-test"


def _param(name: str, value: object) -> list[str]:
    return ["--param", f"{name}={json.dumps(value)}"]


def test_a_folder_of_markdown_runs_the_whole_lifecycle_through_the_cli(running_stack: Settings) -> None:
    assert not [p for p in DOCS.iterdir() if p.suffix not in (".md", ".txt")]
    local_stack.deploy(running_stack, find_project_root())
    args = [
        *_param("sources", [str(DOCS)]),
        *_param("model_name", MODEL),
        # eleven documents: a third of them give the eval questions, so the gate has pairs to compare
        *_param("prep_config", {"eval_fraction": 0.3}),
        *_param(
            "pretrain_config",
            {
                "hidden_size": 64,
                "intermediate_size": 160,
                "num_hidden_layers": 2,
                "max_steps": 150,
                "warmup_steps": 10,
                "batch_size": 8,
                "seq_length": 64,
            },
        ),
        *_param(
            "finetune", {"max_steps": 60, "per_device_batch_size": 8, "max_seq_length": 384, "learning_rate": 0.005}
        ),
        *_param("eval_config", {"max_examples": 32, "max_new_tokens": 32}),
        # the candidate must beat its base by the bootstrap; absolute floors are for full-size runs
        *_param("policy", {"thresholds": {}}),
        *_param("index_config", {"alias": "llmops_docs_test"}),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "llmops.cli", "run", "lifecycle", *args, "--timeout", "1200"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=1300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "promoted: True" in result.stdout, result.stdout
    assert "base_model: models:/llmops-base/" in result.stdout

    mlflow, lk = clients.mlflow_client(running_stack), clients.lakefs_client(running_stack)
    champion = mlflow.get_model_version_by_alias(MODEL, "champion")
    base_uri = champion.tags["llmops.base_model"]
    base_name, base_version = base_uri.removeprefix("models:/").split("/")
    base = mlflow.get_model_version(base_name, base_version)
    assert (
        base.tags["llmops.documents"] == "11"
        and base.tags["llmops.lakefs_commit"] == champion.tags["llmops.lakefs_commit"]
    )
    # the training pairs were derived from the documents, and name them
    from tasks.services.lakefs import read_dataframes

    train = read_dataframes(
        lk,
        champion.tags["llmops.lakefs_repository"],
        champion.tags["llmops.lakefs_commit"],
        [champion.tags["llmops.train_path"]],
    )
    derived = [json.loads(m) for m in train["meta"]]
    assert len(train) >= 10 and all(m.get("rule") for m in derived)
    assert any(p.startswith("What is") for p in train["prompt"])
