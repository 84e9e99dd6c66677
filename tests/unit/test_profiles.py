"""Every parameter profile in deployments/profiles/ validates against the stage configs, and prefect.yaml's
build step and placeholders refer to profiles and parameters that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from deployments import profiles
from llmops.errors import ConfigError
from llmops.settings import find_project_root

ROOT = find_project_root(Path(__file__).parent)


@pytest.mark.parametrize("name", profiles.available_profiles())
def test_profile_validates_against_the_stage_configs(name: str) -> None:
    text = profiles.profile_path(name).read_text()
    header = "\n".join(line for line in text.splitlines()[:6] if line.startswith("#"))
    assert text.startswith("#") and "llmops " in header, (
        "a profile opens with a comment giving the command that uses it"
    )
    loaded = profiles.load_profile(name)
    models = profiles.parameter_models()
    raw = yaml.safe_load(text)
    assert set(loaded) == set(raw)
    for parameter, fields in loaded.items():
        assert set(fields) == set(raw[parameter])  # only what the profile sets, nothing filled in
        models[parameter].model_validate(fields)


def test_the_shipped_profiles_are_the_cpu_and_gpu_recipes() -> None:
    assert {"cpu-tiny", "gpu-1b-lora"} <= set(profiles.available_profiles())
    cpu, gpu = profiles.load_profile("cpu-tiny"), profiles.load_profile("gpu-1b-lora")
    assert cpu["finetune"]["max_steps"] == 800 and "base_model" not in cpu["finetune"]  # the embedded default
    assert gpu["finetune"]["base_model"] != "embedded-default" and gpu["finetune"]["precision"] == "auto"


def test_a_bad_profile_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml").write_text("# test\nfinetune:\n  lora_r: 0\n")
    (tmp_path / "typo.yaml").write_text("# test\nfinetuning:\n  lora_r: 8\n")
    monkeypatch.setattr(profiles, "PROFILES_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"broken.yaml: finetune.lora_r: Input should be greater than"):
        profiles.load_profile("broken")
    with pytest.raises(ConfigError, match="unknown parameter 'finetuning'"):
        profiles.load_profile("typo")
    with pytest.raises(ConfigError, match="no parameter profile 'missing'"):
        profiles.load_profile("missing")


def test_prefect_yaml_loads_profiles_that_exist_into_parameters_the_flows_take() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    steps = {}
    for step in config["build"]:
        ((function, inputs),) = step.items()
        assert function == "deployments.profiles.load_profile"
        steps[inputs["id"]] = profiles.load_profile(inputs["name"])
    for deployment in config["deployments"]:
        for parameter, value in (deployment.get("parameters") or {}).items():
            match = re.fullmatch(r"\{\{ (\w+)\.(\w+) \}\}", str(value))
            if match:
                step_id, key = match.groups()
                assert key == parameter and key in steps[step_id], (deployment["name"], parameter)


def test_run_takes_a_profile_and_param_overrides_win_field_by_field() -> None:
    from llmops.cli import _with_profile

    merged = _with_profile("gpu-1b-lora", {"finetune": {"max_steps": 5}, "model_name": "m"})
    gpu = profiles.load_profile("gpu-1b-lora")
    assert merged["finetune"] == {**gpu["finetune"], "max_steps": 5}
    assert merged["eval_config"] == gpu["eval_config"] and merged["model_name"] == "m"
    assert _with_profile(None, {"a": 1}) == {"a": 1}
