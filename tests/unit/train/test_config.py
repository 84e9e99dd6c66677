from __future__ import annotations

import pytest
from pydantic import ValidationError

from tasks.train.config import FinetuneConfig, resolve_precision
from tasks.train.errors import PrecisionUnavailableError


def test_defaults_are_valid_and_target_every_linear_layer() -> None:
    config = FinetuneConfig()
    assert config.base_model == "embedded-default"
    assert config.peft_target_modules == "all-linear"
    assert config.precision == "auto"


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("### Response:\n", "exactly once"),  # no {prompt}
        ("{prompt} and {prompt}\n### Response:\n", "exactly once"),
        ("{prompt} for {user}\n### Response:\n", "no other field"),
        ("{prompt}\n### Response: {\n", "not a valid format string"),
        ("### Instruction:\n{prompt}", "response marker"),  # nothing after {prompt}
        ("### Instruction:\n{prompt}\n  \n", "response marker"),  # only whitespace after it
    ],
)
def test_bad_prompt_templates_are_rejected_with_what_to_change(template: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        FinetuneConfig(prompt_template=template)


def test_a_template_with_escaped_braces_is_accepted() -> None:
    config = FinetuneConfig(prompt_template='{{"q": "{prompt}"}}\nA:')
    assert config.prompt_template.format(prompt="x") == '{"q": "x"}\nA:'


@pytest.mark.parametrize(
    "field",
    [
        {"lora_r": 0},
        {"lora_alpha": 0},
        {"lora_dropout": 0.95},
        {"learning_rate": 0},
        {"learning_rate": 2.0},
        {"warmup_ratio": 0.6},
        {"max_seq_length": 8},
        {"per_device_batch_size": 0},
        {"gradient_accumulation_steps": 0},
        {"epochs": 0},
        {"max_steps": -1},
        {"save_every_steps": 0},
        {"seed": -1},
        {"precision": "int8"},
        {"lr_scheduler": "exponential"},
        {"target_modules": []},
        {"base_model": ""},
        {"unknown_knob": 1},
    ],
)
def test_out_of_range_values_are_rejected(field: dict) -> None:
    with pytest.raises(ValidationError):
        FinetuneConfig(**field)


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"target_modules": ["all-linear", "q_proj"]}, "list it alone"),
        ({"lr_scheduler": "constant", "warmup_ratio": 0.1}, "constant_with_warmup"),
    ],
)
def test_contradictory_fields_are_rejected(fields: dict, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        FinetuneConfig(**fields)


def test_named_target_modules_go_to_peft_as_a_list() -> None:
    assert FinetuneConfig(target_modules=["q_proj", "v_proj"]).peft_target_modules == ["q_proj", "v_proj"]


@pytest.mark.parametrize(
    ("requested", "device", "bf16_supported", "expected"),
    [
        ("auto", "cpu", None, "fp32"),
        ("fp32", "cpu", None, "fp32"),
        ("bf16", "cpu", None, "bf16"),
        ("auto", "cuda", True, "bf16"),
        ("auto", "cuda", False, "fp16"),
        ("fp16", "cuda", True, "fp16"),
        ("fp32", "cuda", True, "fp32"),
    ],
)
def test_precision_resolution(requested: str, device: str, bf16_supported: bool | None, expected: str) -> None:
    assert resolve_precision(requested, device, bf16_supported=bf16_supported) == expected


@pytest.mark.parametrize(("requested", "device", "bf16_supported"), [("fp16", "cpu", None), ("bf16", "cuda", False)])
def test_unavailable_precision_raises_a_typed_error(requested: str, device: str, bf16_supported: bool | None) -> None:
    with pytest.raises(PrecisionUnavailableError):
        resolve_precision(requested, device, bf16_supported=bf16_supported)


def test_config_hash_is_stable_across_serialisation() -> None:
    config = FinetuneConfig(lora_r=4, packing=True)
    again = FinetuneConfig.model_validate_json(config.model_dump_json())
    assert config.config_hash() == again.config_hash()
    assert len(config.config_hash()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"base_model": "some/model"},
        {"lora_r": 16},
        {"lora_alpha": 32},
        {"lora_dropout": 0.1},
        {"target_modules": ["q_proj"]},
        {"max_seq_length": 512},
        {"packing": True},
        {"epochs": 4},
        {"max_steps": 10},
        {"learning_rate": 1e-4},
        {"lr_scheduler": "linear"},
        {"warmup_ratio": 0.1},
        {"weight_decay": 0.01},
        {"max_grad_norm": 0.5},
        {"per_device_batch_size": 4},
        {"gradient_accumulation_steps": 2},
        {"precision": "fp32"},
        {"gradient_checkpointing": True},
        {"seed": 1},
        {"prompt_template": "Q: {prompt}\nA:"},
    ],
)
def test_every_training_field_changes_the_hash(change: dict) -> None:
    assert FinetuneConfig(**change).config_hash() != FinetuneConfig().config_hash()


@pytest.mark.parametrize("change", [{"log_every_steps": 1}, {"eval_every_steps": 5}, {"save_every_steps": 7}])
def test_monitoring_fields_leave_the_hash_alone(change: dict) -> None:
    assert FinetuneConfig(**change).config_hash() == FinetuneConfig().config_hash()


def test_json_schema_carries_bounds_and_descriptions_for_the_form() -> None:
    props = FinetuneConfig.model_json_schema()["properties"]
    assert props["lora_r"]["minimum"] == 1 and props["lora_r"]["maximum"] == 1024
    assert props["precision"]["enum"] == ["auto", "bf16", "fp16", "fp32"]
    assert all(p.get("description") for p in props.values())


def test_the_run_key_covers_what_changes_the_adapter_beyond_the_config() -> None:
    from pathlib import Path

    from tasks.train.base_model import ResolvedBase
    from tasks.train.run import run_key

    config, base = FinetuneConfig(), ResolvedBase(Path("/b"), "models:/llmops-base/1")
    key = run_key(config, base, "docs_a", 4, 0)
    assert key == run_key(config, base, "docs_a", 4, 0)
    assert (
        len(
            {
                key,
                run_key(config, base, "docs_a", 4, 1),
                run_key(config, base, "docs_a", 5, 0),
                run_key(config, base, "docs_b", 4, 0),
                run_key(config, ResolvedBase(Path("/b"), "x", "rev"), "docs_a", 4, 0),
                run_key(config.model_copy(update={"lora_r": 4}), base, "docs_a", 4, 0),
            }
        )
        == 6
    )
