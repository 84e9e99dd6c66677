"""Training on a CUDA device: bf16 autocast, fp32 adapters. Run with `pytest -m gpu`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.train.loop import train_lora
from tests.unit.train.builders import tiny_config

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("packing", [False, True])
def test_training_on_cuda_uses_bf16_and_learns(
    tmp_path: Path, base_dir: Path, train_rows, eval_rows, packing: bool
) -> None:
    from safetensors.torch import load_file

    result = train_lora(
        tiny_config(max_steps=16, packing=packing), base_dir, train_rows, eval_rows, tmp_path / "run", data_commit="gpu"
    )
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert (result.device, result.precision) == ("cuda", expected)
    assert result.completed and result.final_eval_loss < result.initial_eval_loss
    assert result.peak_memory_mb > 0
    adapter = load_file(str(result.adapter_dir / "adapter_model.safetensors"))
    assert all(w.dtype == torch.float32 for w in adapter.values())  # adapters train in fp32 under autocast


def test_a_resumed_cuda_run_continues(tmp_path: Path, base_dir: Path, train_rows) -> None:
    config = tiny_config(max_steps=8, save_every_steps=3)
    first = train_lora(config, base_dir, train_rows, None, tmp_path / "run", data_commit="gpu", stop_after_steps=5)
    second = train_lora(config, base_dir, train_rows, None, tmp_path / "run", data_commit="gpu")
    assert not first.completed and (second.resumed_from_step, second.steps) == (3, 8)


def test_the_adapter_reloads_on_cuda(tmp_path: Path, base_dir: Path, train_rows) -> None:
    from tasks.train.inference import generate, load_adapter_model

    result = train_lora(tiny_config(max_steps=4), base_dir, train_rows, None, tmp_path / "run", data_commit="gpu")
    model, tokenizer = load_adapter_model(result.adapter_dir)
    assert next(model.parameters()).device.type == "cuda"
    assert len(generate(model, tokenizer, ["Add 1 and 2."], 4, tiny_config().prompt_template)) == 1
