"""The output directory of a fine-tune: whose run it is, resumable checkpoints, the final adapter.

    run.json                    which data commit and config this directory belongs to
    checkpoints/step-NNNNNNNN/  adapter weights, optimizer/scheduler/RNG state (last two kept)
    adapter/                    the final adapter: peft weights, tokenizer, training_config.json,
                                prompt_template.txt

Every write goes to a staging directory first and is renamed into place: a crash leaves either the
old state or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.train.config import FinetuneConfig
from tasks.train.errors import ResumeMismatchError, TrainingError

log = logging.getLogger(__name__)

MARKER = "run.json"
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
KEEP_CHECKPOINTS = 2


def check_output_dir(output_dir: Path, data_commit: str, config_hash: str) -> None:
    """Refuse an output directory marked for another run."""
    marker = output_dir / MARKER
    if marker.is_file():
        _check_same_run(str(output_dir), json.loads(marker.read_text()), data_commit, config_hash)


def claim_output_dir(
    output_dir: Path, data_commit: str, config: FinetuneConfig, config_hash: str, base_model_path: Path | str
) -> None:
    """Mark `output_dir` as this run's (once), and clear what a crash mid-save left behind."""
    marker = output_dir / MARKER
    if not marker.is_file():
        output_dir.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(
            marker,
            {
                "data_commit": data_commit,
                "config_hash": config_hash,
                "config": config.model_dump(mode="json"),
                "base_model": str(base_model_path),
            },
        )
    for staging in [*output_dir.glob(f"{CHECKPOINTS}/.step-*.tmp"), *output_dir.glob(f".{ADAPTER}.tmp")]:
        shutil.rmtree(staging, ignore_errors=True)


def _check_same_run(where: str, found: Mapping[str, Any], data_commit: str, config_hash: str) -> None:
    differences = {
        key: (str(found.get(key)), wanted)
        for key, wanted in (("data_commit", data_commit), ("config_hash", config_hash))
        if found.get(key) != wanted
    }
    if differences:
        raise ResumeMismatchError(where, differences)


def _write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    tmp.replace(path)


def latest_checkpoint(output_dir: Path) -> Path | None:
    root = output_dir / CHECKPOINTS
    done = sorted(p for p in root.glob("step-*") if p.is_dir()) if root.is_dir() else []
    return done[-1] if done else None


def save_checkpoint(output_dir: Path, step: int, model, optimizer, scheduler, scaler, meta: Mapping[str, Any]) -> Path:
    import torch

    root = output_dir / CHECKPOINTS
    final = root / f"step-{step:08d}"
    staging = root / f".step-{step:08d}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler else None,
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        staging / "state.pt",
    )
    (staging / "state.json").write_text(json.dumps({"step": step, **meta}, indent=2, sort_keys=True))
    # The rename is the commit point: a crash before it leaves only a staging directory, ignored.
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint %s", final.name)
    return final


def load_checkpoint(
    path: Path, model, optimizer, scheduler, scaler, data_commit: str, config_hash: str
) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    meta = json.loads((path / "state.json").read_text())
    _check_same_run(str(path), meta, data_commit, config_hash)
    device = next(model.parameters()).device
    result = set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors", device=str(device)))
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        raise TrainingError(
            f"checkpoint {path} does not fit this model (missing {missing[:3]}, "
            f"unexpected {list(result.unexpected_keys)[:3]}); delete it to start over"
        )
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_torch"])
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return meta


def save_adapter(
    output_dir: Path,
    model,
    tokenizer,
    config: FinetuneConfig,
    config_hash: str,
    data_commit: str,
    base_model_path: Path | str,
    precision: str,
    steps: int,
) -> Path:
    import peft
    import torch
    import transformers

    final = output_dir / ADAPTER
    staging = output_dir / f".{ADAPTER}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "prompt_template.txt").write_text(config.prompt_template)
    (staging / "training_config.json").write_text(
        json.dumps(
            {
                "config": config.model_dump(mode="json"),
                "config_hash": config_hash,
                "data_commit": data_commit,
                "base_model": str(base_model_path),
                "prompt_template": config.prompt_template,
                "precision": precision,
                "steps": steps,
                "versions": {
                    "torch": torch.__version__,
                    "transformers": transformers.__version__,
                    "peft": peft.__version__,
                },
            },
            indent=2,
            sort_keys=True,
        )
    )
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final
