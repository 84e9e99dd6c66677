from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tasks.train.data import encode_pairs, instruction_pairs
from tasks.train.errors import ResumeMismatchError, TrainingDataError
from tasks.train.loop import TrainResult, _eval_loss, train_lora
from tests.unit.train.builders import make_rows, tiny_config

REPO = Path(__file__).resolve().parents[3]


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, base_dir, train_rows, eval_rows) -> tuple[TrainResult, list[dict]]:
    metrics: list[dict] = []
    result = train_lora(
        tiny_config(max_steps=16),
        base_dir,
        train_rows,
        eval_rows,
        tmp_path_factory.mktemp("run"),
        data_commit="c0ffee",
        on_metrics=metrics.append,
    )
    return result, metrics


def test_training_changes_the_adapter_only_and_lowers_eval_loss(trained, base_dir: Path, eval_rows) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tasks.train.inference import load_adapter_model

    result, _ = trained
    assert result.completed and result.steps == 16 and result.resumed_from_step is None
    assert result.final_eval_loss < result.initial_eval_loss - 0.05

    model, tokenizer = load_adapter_model(result.adapter_dir, device="cpu")
    original = _tensors(base_dir / "model.safetensors")
    base_state = {
        k.removeprefix("base_model.model.").replace(".base_layer", ""): v
        for k, v in model.state_dict().items()
        if "lora_" not in k
    }
    assert original.keys() <= base_state.keys()
    for name, weight in original.items():
        assert torch.equal(base_state[name], weight), f"base weight {name} changed"

    adapter = _tensors(result.adapter_dir / "adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter)
    # lora_B starts at exactly zero and lora_A at a seeded random draw: training moved both.
    assert all(adapter[k].abs().max() > 0 for k in adapter if "lora_B" in k)
    torch.manual_seed(tiny_config().seed)
    fresh = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(base_dir)),
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    fresh_a = {k: v for k, v in fresh.state_dict().items() if "lora_A" in k}
    for key, weight in fresh_a.items():
        assert not torch.equal(adapter[key.replace(".default", "")], weight), f"{key} did not move"

    # The reloaded adapter is exactly the trained one: it reproduces the reported final eval loss.
    items = encode_pairs(instruction_pairs(eval_rows), tokenizer, tiny_config().prompt_template, 64).items
    reloaded = _eval_loss(model, items, 8, tokenizer.pad_token_id, "cpu", torch.autocast("cpu", enabled=False), 1)
    assert reloaded == pytest.approx(result.final_eval_loss, rel=1e-5)


def test_progress_reaches_the_callback(trained) -> None:
    result, metrics = trained
    train_steps = [m for m in metrics if "loss" in m]
    evals = [m for m in metrics if "eval_loss" in m]
    assert [m["step"] for m in train_steps] == [4, 8, 12, 16]
    expected_keys = {"step", "loss", "learning_rate", "tokens_per_s", "memory_mb", "epoch", "tokens_seen"}
    assert expected_keys <= train_steps[0].keys()
    assert all(m["tokens_per_s"] > 0 and m["memory_mb"] > 0 for m in train_steps)
    assert train_steps[0]["learning_rate"] > train_steps[-1]["learning_rate"]  # linear decay
    assert [(m["step"], m["eval_loss"]) for m in evals] == [(0, result.initial_eval_loss), (16, result.final_eval_loss)]
    assert train_steps[-1]["tokens_seen"] == result.train_tokens
    assert result.final_train_loss == train_steps[-1]["loss"]


def test_the_adapter_directory_is_self_describing(trained) -> None:
    result, _ = trained
    files = {p.name for p in result.adapter_dir.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "training_config.json",
        "prompt_template.txt",
    } <= files
    recorded = json.loads((result.adapter_dir / "training_config.json").read_text())
    assert recorded["config_hash"] == result.config_hash == tiny_config(max_steps=16).config_hash()
    assert recorded["data_commit"] == "c0ffee"
    assert (result.adapter_dir / "prompt_template.txt").read_text() == tiny_config().prompt_template
    assert json.loads((result.adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]


def test_generation_returns_one_completion_per_prompt(trained) -> None:
    from tasks.train.inference import generate, load_adapter_model, logits_for

    result, _ = trained
    model, tokenizer = load_adapter_model(result.adapter_dir, device="cpu")
    template = tiny_config().prompt_template
    outputs = generate(
        model, tokenizer, ["Add 1 and 2.", "What color is the red cat?"], max_new_tokens=5, template=template
    )
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)
    # Batched (left-padded) generation gives what each prompt gives alone.
    assert outputs[1] == generate(model, tokenizer, ["What color is the red cat?"], 5, template)[0]
    logits = logits_for(model, tokenizer, ["hello", "hello there"])
    assert logits[0].shape[0] < logits[1].shape[0] and logits[0].shape[1] == len(tokenizer)


def test_a_crashed_run_resumes_from_its_checkpoint(tmp_path: Path, base_dir: Path, train_rows, eval_rows) -> None:
    """Stop at step 6 as a crash would (last checkpoint: step 4); the rerun continues from step 4 to 12
    and ends with the very adapter an uninterrupted run makes."""
    import torch

    config = tiny_config(max_steps=12, save_every_steps=4, lora_dropout=0.1)
    out = tmp_path / "resumed"
    first = train_lora(config, base_dir, train_rows, eval_rows, out, data_commit="abc", stop_after_steps=6)
    assert (first.completed, first.steps, first.adapter_dir) == (False, 6, None)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000004"]

    metrics: list[dict] = []
    second = train_lora(config, base_dir, train_rows, eval_rows, out, data_commit="abc", on_metrics=metrics.append)
    assert second.completed and second.resumed_from_step == 4 and second.steps == 12
    assert [m["step"] for m in metrics if "loss" in m] == [8, 12]
    assert second.initial_eval_loss == first.initial_eval_loss  # carried over, not re-measured
    assert second.final_eval_loss < second.initial_eval_loss

    straight = train_lora(config, base_dir, train_rows, eval_rows, tmp_path / "straight", data_commit="abc")
    resumed_w = _tensors(second.adapter_dir / "adapter_model.safetensors")
    straight_w = _tensors(straight.adapter_dir / "adapter_model.safetensors")
    for key in straight_w:
        torch.testing.assert_close(resumed_w[key], straight_w[key], rtol=1e-5, atol=1e-7)
    assert second.final_eval_loss == pytest.approx(straight.final_eval_loss, rel=1e-5)

    # A finished run reruns as a resume at its last step: nothing left to train.
    again = train_lora(config, base_dir, train_rows, eval_rows, out, data_commit="abc")
    assert (again.resumed_from_step, again.steps, again.train_tokens) == (12, 12, 0)


@pytest.mark.parametrize(
    ("data_commit", "change", "differs"),
    [
        ("other-commit", {}, "data_commit"),
        ("abc", {"learning_rate": 1e-3}, "config_hash"),
        ("abc", {"packing": True}, "config_hash"),
    ],
)
def test_resuming_another_runs_checkpoints_is_refused(
    tmp_path: Path, base_dir: Path, train_rows, data_commit: str, change: dict, differs: str
) -> None:
    out = tmp_path / "run"
    train_lora(
        tiny_config(max_steps=2, save_every_steps=1),
        base_dir,
        train_rows,
        None,
        out,
        data_commit="abc",
        stop_after_steps=1,
    )
    with pytest.raises(ResumeMismatchError, match=differs) as caught:
        train_lora(
            tiny_config(max_steps=2, save_every_steps=1, **change),
            base_dir,
            train_rows,
            None,
            out,
            data_commit=data_commit,
        )
    assert set(caught.value.differences) == {differs}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000001"]  # left as it was


def test_changing_only_monitoring_fields_still_resumes(tmp_path: Path, base_dir: Path, train_rows) -> None:
    out = tmp_path / "run"
    train_lora(
        tiny_config(max_steps=3, save_every_steps=2),
        base_dir,
        train_rows,
        None,
        out,
        data_commit="abc",
        stop_after_steps=2,
    )
    result = train_lora(
        tiny_config(max_steps=3, save_every_steps=5, log_every_steps=1),
        base_dir,
        train_rows,
        None,
        out,
        data_commit="abc",
    )
    assert (result.resumed_from_step, result.steps, result.initial_eval_loss) == (2, 3, None)


def test_packing_and_gradient_accumulation_train(tmp_path: Path, base_dir: Path, train_rows, eval_rows) -> None:
    result = train_lora(
        tiny_config(max_steps=8, packing=True, per_device_batch_size=2, gradient_accumulation_steps=2),
        base_dir,
        train_rows,
        eval_rows,
        tmp_path / "run",
        data_commit="abc",
    )
    assert result.completed and result.final_eval_loss < result.initial_eval_loss


def test_rows_that_cannot_train_fail_before_the_model_loads(tmp_path: Path, base_dir: Path) -> None:
    with pytest.raises(TrainingDataError, match="max_seq_length"):
        train_lora(
            tiny_config(max_seq_length=16),
            base_dir,
            [{"prompt": "word " * 50, "response": "x"}],
            None,
            tmp_path / "run",
            data_commit="abc",
        )
    with pytest.raises(TrainingDataError, match="response"):
        train_lora(tiny_config(), base_dir, [{"prompt": "p"}], None, tmp_path / "run2", data_commit="abc")


_KILLABLE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tasks.train.loop import train_lora
    from tests.unit.train.builders import make_rows, tiny_config

    def slow(metrics):  # keeps the run alive long enough to be killed mid-way
        time.sleep(0.3)

    train_lora(tiny_config(max_steps=40, save_every_steps=3, log_every_steps=1), Path(sys.argv[1]), make_rows(96, 1),
               None, Path(sys.argv[2]), data_commit="abc", on_metrics=slow)
""")


@pytest.mark.slow  # a fresh interpreter importing torch + transformers: 5 s idle, 25 s on a busy machine
def test_a_killed_training_process_resumes(tmp_path: Path, base_dir: Path) -> None:
    """SIGKILL a training subprocess after its first checkpoint; the rerun continues from there."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(base_dir), str(out)],
        cwd=REPO,
        env=os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((out / "checkpoints").glob("step-*")) and time.monotonic() < deadline:
            assert proc.poll() is None, "training exited before its first checkpoint"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    checkpoint_step = max(int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("step-*"))
    assert checkpoint_step < 40
    result = train_lora(
        tiny_config(max_steps=40, save_every_steps=3, log_every_steps=1),
        base_dir,
        make_rows(96, 1),
        None,
        out,
        data_commit="abc",
    )
    assert result.resumed_from_step == checkpoint_step and result.steps == 40 and result.completed


def test_gradient_checkpointing_changes_memory_not_results(tmp_path: Path, base_dir: Path, train_rows) -> None:
    import torch

    plain = train_lora(tiny_config(max_steps=4), base_dir, train_rows, None, tmp_path / "plain", data_commit="abc")
    ckpt = train_lora(
        tiny_config(max_steps=4, gradient_checkpointing=True),
        base_dir,
        train_rows,
        None,
        tmp_path / "ckpt",
        data_commit="abc",
    )
    a = _tensors(plain.adapter_dir / "adapter_model.safetensors")
    b = _tensors(ckpt.adapter_dir / "adapter_model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def test_no_eval_rows_means_no_eval_loss(tmp_path: Path, base_dir: Path, train_rows) -> None:
    result = train_lora(tiny_config(max_steps=2), base_dir, train_rows, [], tmp_path / "run", data_commit="abc")
    assert result.completed and (result.initial_eval_loss, result.final_eval_loss) == (None, None)


def test_bf16_autocast_runs_on_cpu_when_asked(tmp_path: Path, base_dir: Path, train_rows, eval_rows) -> None:
    result = train_lora(
        tiny_config(max_steps=8, precision="bf16"), base_dir, train_rows, eval_rows, tmp_path / "run", data_commit="abc"
    )
    assert (result.device, result.precision) == ("cpu", "bf16")
    assert result.final_eval_loss < result.initial_eval_loss
