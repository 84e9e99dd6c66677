"""Named parameter profiles: YAML files of flow parameters, validated against the stage configs.

A profile maps flow parameter names (`finetune`, `eval_config`, ...) to the fields it sets; every
field it leaves out keeps the config's default. `load_profile` is also a `prefect.yaml` build step:
`prefect deploy` runs it and fills the deployments' parameters from its output, so a bad profile
fails the deploy, not the first run.

    load_profile(name)   {parameter: {field: value}} of deployments/profiles/<name>.yaml, validated
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from llmops.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


def parameter_models() -> dict[str, type[BaseModel]]:
    """The typed config behind each flow parameter a profile may set."""
    from tasks.evaluate import EvalConfig, GatePolicy
    from tasks.index import IndexConfig
    from tasks.ingest import SourceConfig
    from tasks.prepare import PrepConfig
    from tasks.pretrain import PretrainConfig
    from tasks.train import FinetuneConfig

    return {
        "source_config": SourceConfig,
        "prep_config": PrepConfig,
        "pretrain_config": PretrainConfig,
        "finetune": FinetuneConfig,
        "eval_config": EvalConfig,
        "policy": GatePolicy,
        "index_config": IndexConfig,
    }


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_path(name: str) -> Path:
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"no parameter profile {name!r}; known: {', '.join(available_profiles())} (files in deployments/profiles/)"
        )
    return path


def load_profile(name: str) -> dict[str, dict[str, Any]]:
    """The profile's parameters, each checked against its config; raises ConfigError naming the field."""
    import yaml

    path = profile_path(name)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping of flow parameters, got {type(data).__name__}")
    models = parameter_models()
    out: dict[str, dict[str, Any]] = {}
    for parameter, fields in data.items():
        model = models.get(parameter)
        if model is None:
            raise ConfigError(f"{path.name}: unknown parameter {parameter!r}; a profile sets {', '.join(models)}")
        if not isinstance(fields, dict):
            raise ConfigError(f"{path.name}: {parameter} must be a mapping of fields, got {type(fields).__name__}")
        try:
            validated = model.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(f"{parameter}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path.name}: {problems}") from None
        # Only the fields the profile sets: the rest stay the config's defaults, visible as such in the UI.
        out[parameter] = validated.model_dump(mode="json", include=set(fields))
    return out
