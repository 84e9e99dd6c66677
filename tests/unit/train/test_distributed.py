"""Training under torchrun, launched by the train stage: two CPU processes on gloo step like one process
with the same global batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.train.distributed import World
from tasks.train.errors import ResumeMismatchError, TrainingDataError, TrainingError
from tasks.train.launch import _forward_metrics, _outcome, processes_from_env, train
from tasks.train.loop import train_lora
from tests.unit.train.builders import tiny_config


def _adapter(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path / "adapter_model.safetensors")


def test_two_gloo_processes_train_the_adapter_one_process_trains(
    base_dir: Path, train_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    fields = {"per_device_batch_size": 4, "max_steps": 6, "save_every_steps": 3}
    single_metrics: list[dict] = []
    # one process, the same global batch of 8 (what two processes of 4 make), the same data and seed
    single = train_lora(
        tiny_config(**(fields | {"per_device_batch_size": 8})),
        base_dir,
        train_rows,
        None,
        tmp_path / "single",
        data_commit="ddp",
        on_metrics=single_metrics.append,
    )
    # a one-process checkpoint that the two processes must refuse to resume (their global batch differs)
    train_lora(
        tiny_config(**fields), base_dir, train_rows, None, tmp_path / "partial", data_commit="ddp", stop_after_steps=3
    )

    collected: list[dict] = []
    result = train(
        2, tiny_config(**fields), base_dir, train_rows, None, tmp_path / "ddp",
        data_commit="ddp", on_metrics=collected.append,
    )  # fmt: skip
    # the same refusal, raised here as the class the ranks raised
    with pytest.raises(ResumeMismatchError, match="world_size: found '1', requested '2'"):
        train(2, tiny_config(**fields), base_dir, train_rows, None, tmp_path / "partial", data_commit="ddp")

    assert result.steps == single.steps == 6 and result.completed
    ddp, one = _adapter(result.adapter_dir), _adapter(single.adapter_dir)
    assert ddp.keys() == one.keys() and ddp
    worst = max((ddp[k] - one[k]).abs().max().item() for k in one)
    print(f"largest difference between the adapters: {worst:.2e}")
    assert worst < 1e-4, f"largest difference between the adapters: {worst}"
    # the adapters did train (LoRA B starts at zero), so the comparison above compares something
    assert max(v.abs().max().item() for k, v in one.items() if "lora_B" in k) > 1e-3
    # rank 0's metrics reached the callback while the ranks trained, once each (one writer)
    assert [m["step"] for m in collected] == [m["step"] for m in single_metrics] and collected
    # only rank 0 wrote: one adapter, and no stray files of rank 1
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in (tmp_path / "single").iterdir() if not p.name.startswith(".")
    )


def test_world_without_launcher_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    world = World.from_env()
    assert (world.rank, world.world_size, world.is_main, world.distributed) == (0, 1, True, False)
    assert world.shard(list(range(8)), 8) == list(range(8))
    two = World(rank=1, world_size=2)
    assert two.shard(list(range(8)), 4) == [4, 5, 6, 7] and two.shard(list(range(3)), 4) == []


def test_processes_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert processes_from_env({}) == 1
    assert processes_from_env({"LLMOPS_TRAIN_PROCESSES": "4"}) == 4
    assert processes_from_env({"LLMOPS_TRAIN_PROCESSES": "auto"}) >= 1  # one per visible GPU, at least one
    for bad in ("0", "two", "-1"):
        with pytest.raises(TrainingError, match="LLMOPS_TRAIN_PROCESSES"):
            processes_from_env({"LLMOPS_TRAIN_PROCESSES": bad})


def test_what_the_ranks_report_comes_back(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')  # the second line is still being written
    seen: list[dict] = []
    assert _forward_metrics(metrics, 0, seen.append) == 1 and seen == [{"step": 1, "loss": 2.0}]
    metrics.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n')
    assert _forward_metrics(metrics, 1, seen.append) == 2 and seen[-1] == {"step": 2, "loss": 1.5}

    (tmp_path / "output.log").write_text("Traceback ...\nRuntimeError: NCCL error\n")
    with pytest.raises(TrainingError, match="(?s)exit status 1.*NCCL error"):
        _outcome(1, tmp_path)  # no result: the ranks died
    (tmp_path / "result.json").write_text(
        json.dumps({"error": {"type": "TrainingDataError", "message": "row 3: no 'response'"}})
    )
    with pytest.raises(TrainingDataError, match="row 3: no 'response'"):
        _outcome(1, tmp_path)
