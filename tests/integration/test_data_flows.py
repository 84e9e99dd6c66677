"""Ingest and prepare against the local stack, on the built-in Python-docs corpus plus planted bad input."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

import lakefs
import pandas as pd
import pytest
from lakefs.exceptions import ForbiddenException

from flows.ingest import ingest_flow
from flows.prepare import prepare_flow
from llmops import clients, prefect_api
from llmops.settings import Settings
from tasks.ingest.sources import PYTHON_DOCS_URI, SourceConfig
from tasks.prepare.pipeline import PrepConfig
from tests.synthetic import plant_pii

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A JSONL source with secrets planted in valid records, and lines that are broken on purpose."""
    rng = random.Random(7)
    secrets: list[str] = []
    lines = []
    for i in range(30):
        text, planted_here = plant_pii(
            f"How do I configure the logging module for service number {i} in "
            "production with rotating files and a custom formatter",
            rng,
        )
        secrets += [s for _, s in planted_here]
        lines.append(
            json.dumps(
                {
                    "id": f"planted-{i}",
                    "prompt": text,
                    "response": f"Use logging.handlers.RotatingFileHandler, as in example {i}.",
                }
            )
        )
    lines.insert(5, '{"id": "broken", "prompt": "no closing brace"')
    lines.insert(9, json.dumps({"id": "wrong-type", "prompt": 12, "response": "x"}))
    folder = tmp_path_factory.mktemp("sources")
    path = folder / "planted.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, secrets


def _read_all(client, repository: str, ref: str, paths: list[str]) -> pd.DataFrame:
    frames = []
    for path in paths:
        with lakefs.Reference(repository, ref, client=client).object(path).reader(mode="rb") as f:
            frames.append(pd.read_parquet(io.BytesIO(f.read())))
    return pd.concat(frames, ignore_index=True)


def test_ingest_and_prepare_publish_a_clean_dataset_on_main_and_rerun_is_a_no_op(
    running_stack: Settings, planted: tuple[Path, list[str]]
) -> None:
    source_file, secrets = planted
    sources = [PYTHON_DOCS_URI, str(source_file)]
    with prefect_api.prefect_context(running_stack):
        raw = ingest_flow(sources=sources, source_config=SourceConfig())
        dataset = prepare_flow(raw=raw, prep_config=PrepConfig())

    client = clients.lakefs_client(running_stack)
    repo = running_stack.lakefs.repository
    main_commit = lakefs.Reference(repo, "main", client=client).get_commit()
    assert dataset.commit == main_commit.id
    # the data flow created the repository and protected main with a rule, through the API
    rules = client.sdk_client.repositories_api.get_branch_protection_rules(repo)
    assert [rule.pattern for rule in rules] == ["main"]
    with pytest.raises(ForbiddenException, match="protected branch"):
        lakefs.Branch(repo, "main", client=client).object("direct.txt").upload("x")
    assert raw.records > 3000 and raw.issues == 1  # the unparsable line; the wrong type fails validation later

    # the raw records, bad lines included, stay committed as read
    with lakefs.Reference(repo, raw.commit, client=client).object(raw.records_path).reader(mode="rb") as f:
        raw_lines = gzip.decompress(f.read()).decode().splitlines()
    assert len(raw_lines) == raw.records + raw.issues
    assert any('"wrong-type"' in line for line in raw_lines)

    # files present on main, and the counts in the commit metadata match them
    train = _read_all(client, repo, "main", dataset.train)
    evals = _read_all(client, repo, "main", dataset.eval)
    corpus = _read_all(client, repo, "main", dataset.corpus)
    counts = json.loads(main_commit.metadata["llmops.counts"])
    assert (counts["train"], counts["eval"], counts["corpus"]) == (len(train), len(evals), len(corpus))
    assert len(train) > 1000 and len(evals) > 10 and len(corpus) > 100
    assert set(train.columns) >= {"id", "prompt", "response", "source"}
    assert not set(train.id) & set(evals.id)

    # no planted secret survives anywhere in the prepared files
    blob = "\n".join(pd.concat([train, evals]).astype(str).to_numpy().ravel()) + "\n".join(
        corpus.astype(str).to_numpy().ravel()
    )
    leaked = [s for s in secrets if s in blob]
    assert leaked == []
    assert any("<EMAIL>" in p for p in train.prompt.tolist() + evals.prompt.tolist())

    # the quarantine names the bad records and why
    with lakefs.Reference(repo, "main", client=client).object("quarantine/quarantine.jsonl").reader(mode="r") as f:
        quarantine = f.read()
    assert "planted.jsonl" in quarantine and "line 6" in quarantine and "wrong-type" in quarantine

    # rerun with unchanged inputs: no new commit, same reference
    with prefect_api.prefect_context(running_stack):
        raw_again = ingest_flow(sources=sources, source_config=SourceConfig())
        dataset_again = prepare_flow(raw=raw_again, prep_config=PrepConfig())
    assert raw_again.commit == raw.commit and raw_again.reused
    assert dataset_again == dataset
    assert lakefs.Reference(repo, "main", client=client).get_commit().id == main_commit.id


def test_a_failed_policy_leaves_main_untouched(running_stack: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "mostly-bad.jsonl"
    bad.write_text(
        "\n".join(['{"id": 1, "prompt": "ok prompt here please", "response": "fine answer words"}'] + ["{not json"] * 9)
        + "\n"
    )
    client = clients.lakefs_client(running_stack)
    repo = running_stack.lakefs.repository
    with prefect_api.prefect_context(running_stack):
        raw = ingest_flow(sources=[str(bad)], source_config=SourceConfig())
        before = lakefs.Reference(repo, "main", client=client).get_commit().id
        state = prepare_flow(raw=raw, prep_config=PrepConfig(max_invalid_fraction=0.1), return_state=True)
    assert state.is_failed()
    assert "data policy failed" in str(state.message) or "data policy failed" in repr(
        state.result(raise_on_failure=False)
    )
    assert lakefs.Reference(repo, "main", client=client).get_commit().id == before
