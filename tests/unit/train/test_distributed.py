"""Training under torchrun: two CPU processes on gloo step like one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.train.distributed import World
from tasks.train.loop import train_lora
from tests.unit.train.builders import tiny_config

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def _adapter(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path / "adapter_model.safetensors")


def test_two_gloo_processes_train_the_adapter_one_process_trains(
    base_dir: Path, train_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    fields = {"per_device_batch_size": 4, "max_steps": 6, "save_every_steps": 3}
    # one process, the same global batch of 8 (what two processes of 4 make), the same data and seed
    single = train_lora(
        tiny_config(**(fields | {"per_device_batch_size": 8})),
        base_dir,
        train_rows,
        None,
        tmp_path / "single",
        data_commit="ddp",
    )
    # a one-process checkpoint that the two processes must refuse to resume (their global batch differs)
    train_lora(
        tiny_config(**fields), base_dir, train_rows, None, tmp_path / "partial", data_commit="ddp", stop_after_steps=3
    )

    spec = {
        "base_dir": str(base_dir),
        "rows": train_rows,
        "config": tiny_config(**fields).model_dump(mode="json"),
        "out": str(tmp_path / "ddp"),
        "resume_dir": str(tmp_path / "partial"),
        "report": str(tmp_path / "report.json"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(WORKER),
            str(tmp_path / "spec.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())

    assert report["steps"] == single.steps == 6
    ddp, one = _adapter(Path(report["adapter_dir"])), _adapter(single.adapter_dir)
    assert ddp.keys() == one.keys() and ddp
    worst = max((ddp[k] - one[k]).abs().max().item() for k in one)
    print(f"largest difference between the adapters: {worst:.2e}")
    assert worst < 1e-4, f"largest difference between the adapters: {worst}"
    # the adapters did train (LoRA B starts at zero), so the comparison above compares something
    assert max(v.abs().max().item() for k, v in one.items() if "lora_B" in k) > 1e-3
    assert "world_size: found '1', requested '2'" in report["refused"]
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
