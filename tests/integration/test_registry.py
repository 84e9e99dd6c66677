"""Registration, lineage tags, dataset inputs and alias moves against a real MLflow server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from llmops import clients
from llmops.settings import Settings
from tasks import release
from tasks.services import mlflow as tracking
from tasks.train import register

pytestmark = pytest.mark.integration


def _lineage(commit: str = "c0ffee") -> register.Lineage:
    return register.Lineage(
        lakefs_repository="llmops",
        lakefs_commit=commit,
        train_path="prepared/train/part-0.parquet",
        eval_path="prepared/eval/part-0.parquet",
        prefect_flow_run_id="run-1",
        prefect_flow_run_url="http://127.0.0.1:4200/runs/flow-run/run-1",
        base_model="embedded-default",
        git_revision="abc123",
        config_hash="h1",
    )


def _register(client, name: str, tmp_path: Path, marker: str) -> str:
    adapter = tmp_path / marker
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(f'{{"marker": "{marker}"}}')
    run_id = register.start_finetune_run(client, "registry-test", {"lora_r": 8, "targets": ["q", "v"]}, _lineage())
    return register.register_adapter(client, name, run_id, adapter, _lineage()).version


def test_versions_carry_lineage_and_download_by_alias(running_stack: Settings, tmp_path: Path) -> None:
    client = clients.mlflow_client(running_stack)
    name = f"m-{uuid.uuid4().hex[:6]}"
    v1 = _register(client, name, tmp_path, "one")
    release.promote(client, name, v1, reason="first")
    resolved = register.resolve(client, name, "champion")
    assert resolved.version.version == v1
    assert resolved.lineage == _lineage()
    run = client.get_run(resolved.version.run_id)
    assert run.data.params["lora_r"] == "8" and run.data.params["targets"] == '["q", "v"]'
    assert run.data.tags["llmops.lakefs_commit"] == "c0ffee"
    files = tracking.download_version(f"models:/{name}@champion", tmp_path / "dl")
    assert (files / "adapter_config.json").read_text() == '{"marker": "one"}'


def test_promote_challenger_and_rollback_move_aliases(running_stack: Settings, tmp_path: Path) -> None:
    client = clients.mlflow_client(running_stack)
    name = f"m-{uuid.uuid4().hex[:6]}"
    v1, v2, v3 = (_register(client, name, tmp_path, m) for m in ("a", "b", "c"))
    release.promote(client, name, v1, reason="first")
    assert tracking.aliases(client, name) == {"champion": v1}
    release.promote(client, name, v2, reason="better")
    assert tracking.aliases(client, name) == {"champion": v2, "previous": v1}
    release.mark_challenger(client, name, v3, ["rouge_l vs champion: CI below margin"])
    assert tracking.aliases(client, name) == {"champion": v2, "previous": v1, "challenger": v3}
    assert client.get_model_version(name, v3).tags[release.GATE_TAG] == "failed"
    move = release.promote(client, name, v3, reason="operator override", forced=True)
    assert (move.champion, move.previous) == (v3, v2)
    assert "challenger" not in tracking.aliases(client, name)
    assert client.get_model_version(name, v3).tags["llmops.promotion_forced"] == "true"
    assert release.rollback(client, name).champion == v2
    assert tracking.aliases(client, name) == {"champion": v2, "previous": v1}
    assert release.rollback(client, name).champion == v1
    with pytest.raises(ValueError, match="no earlier champion"):
        release.rollback(client, name)


def test_every_alias_move_is_in_the_history_and_rollback_goes_to_any_earlier_champion(
    running_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = clients.mlflow_client(running_stack)
    name = f"m-{uuid.uuid4().hex[:6]}"
    v1, v2, v3, v4 = (_register(client, name, tmp_path, m) for m in ("a", "b", "c", "d"))
    monkeypatch.setenv("LLMOPS_ACTOR", "alice")
    release.record_gate_outcome(client, name, v1, passed=True, reasons=["beat the base"], promote_now=True)
    release.promote(client, name, v2, reason="better on rouge_l")
    release.mark_challenger(client, name, v3, ["rouge_l below the champion"])
    release.promote(client, name, v3, reason="operator override", forced=True, who="bob")
    release.restore_aliases(client, name, {"champion": v3, "previous": v2}, [v1, v2, v3])  # a release's undo
    release.promote(client, name, v4, reason="fresh data")

    with pytest.raises(ValueError, match=r"never an earlier champion \(earlier champions: 1, 2, 3\)"):
        release.rollback_to(client, name, v4)  # the champion itself is no earlier point
    move = release.rollback_to(client, name, v1, reason="v2-v4 answer badly on billing questions")
    assert (move.champion, move.previous) == (v1, v4)

    moves = [(e.kind, e.alias, e.from_version, e.to_version, e.who) for e in release.alias_history(client, name)]
    assert moves == [
        ("gate", "champion", None, v1, "alice"),
        ("promote", "champion", v1, v2, "alice"),
        ("promote", "previous", None, v1, "alice"),
        ("gate", "challenger", None, v3, "alice"),
        ("promote", "challenger", v3, None, "bob"),
        ("promote", "champion", v2, v3, "bob"),
        ("promote", "previous", v1, v2, "bob"),
        ("promote", "champion", v3, v4, "alice"),
        ("promote", "previous", v2, v3, "alice"),
        ("rollback", "champion", v4, v1, "alice"),
        ("rollback", "previous", v3, v4, "alice"),
    ]  # the undo restored what was there already: no move, nothing recorded
    events = release.alias_history(client, name)
    assert events[-1].why == "v2-v4 answer badly on billing questions" and events[3].why.startswith("failed the gate")
    assert all(a.at <= b.at for a, b in zip(events, events[1:], strict=False))

    from typer.testing import CliRunner

    from llmops.cli import app

    shown = CliRunner().invoke(app, ["history", name])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.strip().splitlines()
    assert len(lines) == len(moves) and "rollback" in lines[-1] and f"{v3} -> {v4}" in lines[-1]
    back = CliRunner().invoke(app, ["rollback", name, "--to", v2])
    assert back.exit_code == 0 and f"champion -> {v2}" in back.output
    assert tracking.aliases(client, name)["champion"] == v2


def test_metrics_are_batched_and_datasets_recorded_with_their_lakefs_source(running_stack: Settings) -> None:
    client = clients.mlflow_client(running_stack)
    run_id = register.start_finetune_run(client, "registry-test", {}, _lineage())
    buffer = tracking.MetricBuffer(client, run_id, max_items=100, max_age_s=3600)
    for step in range(120):
        buffer.add({"loss": 1.0 / (step + 1), "learning_rate": 1e-3}, step=step)
    buffer.flush()
    assert buffer.requests == 3  # 240 values in 3 requests, not 240
    history = client.get_metric_history(run_id, "loss")
    assert len(history) == 120 and history[-1].value == pytest.approx(1 / 120)

    uri = "lakefs://llmops/c0ffee/prepared/train/part-0.parquet"
    tracking.log_dataset(run_id, pd.DataFrame({"prompt": ["a"], "response": ["b"]}), uri, "train", "training")
    inputs = client.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.source_type == "lakefs"
    assert uri in inputs[0].dataset.source
