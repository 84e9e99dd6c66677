"""The base model to fine-tune, resolved to a local directory: the embedded default, a local path or a hub id.

    embedded-default   the model the pretrain stage trained on this corpus (`tasks.pretrain`), passed in
                       as a local directory, recorded in the lineage as its registry URI
                       (`models:/llmops-base/<version>`)
    a local directory  a saved model (config.json beside its weights), used as it is
    a hub id           its snapshot in the Hugging Face cache, downloaded first unless HF_HUB_OFFLINE is
                       set; the lineage records the id and the snapshot's commit, so it loads again anywhere

peft records the directory as `base_model_name_or_path`; `tasks.train.register.load_version` finds the
base again from the lineage when that directory is not on the machine that loads the version.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tasks.pretrain import EmbeddedModelSpec, build_embedded_model, build_tokenizer
from tasks.train.config import EMBEDDED_DEFAULT, FinetuneConfig
from tasks.train.errors import BaseModelNotFoundError

log = logging.getLogger(__name__)

__all__ = [
    "EmbeddedModelSpec",
    "ResolvedBase",
    "build_embedded_model",
    "build_tokenizer",
    "from_pretrained_kwargs",
    "hf_offline",
    "resolve_base_model",
]

# What a model snapshot needs from the hub: configs, weights, tokenizer files (no other weight formats).
_SNAPSHOT_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "tokenizer*"]


@dataclass(frozen=True)
class ResolvedBase:
    """A base model as a local directory, and what the lineage records to find it again."""

    path: Path
    name: str  # models:/llmops-base/<v>, a hub id, or a local path
    revision: str | None = None  # the hub snapshot's commit, for a hub id


def hf_offline() -> bool:
    """Whether the hub must not be contacted (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set to a true value)."""
    return any(
        os.environ.get(k, "").strip().lower() in {"1", "true", "yes", "on"}
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def resolve_base_model(
    config: FinetuneConfig, pretrained: Path | None = None, pretrained_name: str | None = None
) -> ResolvedBase:
    """The local directory of `config.base_model` (`pretrained` is the embedded default's, when it is that)."""
    name = config.base_model
    if name == EMBEDDED_DEFAULT:
        if pretrained is None:
            raise BaseModelNotFoundError(
                f"base_model '{EMBEDDED_DEFAULT}' is the model the pretrain stage trains on the corpus, and none "
                "was given: run the lifecycle (it pretrains first), or `llmops run pretrain`, or name a hub id or "
                "a local model directory as finetune.base_model"
            )
        return ResolvedBase(Path(pretrained), pretrained_name or str(pretrained))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BaseModelNotFoundError(
                f"base_model {name!r} is a directory without config.json; point it at a saved model"
            )
        return ResolvedBase(path.resolve(), str(path.resolve()))
    if path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1:
        raise BaseModelNotFoundError(f"base_model {name!r} looks like a local path but is not a directory")
    return _hub_snapshot(name, config.base_model_revision)


def _hub_snapshot(repo_id: str, revision: str | None) -> ResolvedBase:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = hf_offline()
    try:
        snapshot = Path(
            snapshot_download(repo_id, revision=revision, allow_patterns=_SNAPSHOT_FILES, local_files_only=offline)
        )
    except LocalEntryNotFoundError as exc:
        raise BaseModelNotFoundError(
            f"base_model {repo_id!r}{f' at revision {revision}' if revision else ''} is not in the local hub "
            f"cache and the hub is offline (HF_HUB_OFFLINE); download it first, point base_model at a local "
            f"directory, or use '{EMBEDDED_DEFAULT}'"
        ) from exc
    except OSError as exc:  # a repository that does not exist, no network, a gated model
        raise BaseModelNotFoundError(f"cannot fetch base_model {repo_id!r} from the hub: {exc}") from exc
    if not (snapshot / "config.json").is_file():
        raise BaseModelNotFoundError(f"the hub snapshot of {repo_id!r} at {snapshot} has no config.json")
    # The snapshot folder is named after the commit it holds: that pins the revision in the lineage.
    return ResolvedBase(snapshot, repo_id, revision=snapshot.name)


def from_pretrained_kwargs() -> dict[str, object]:
    """Keyword arguments every `from_pretrained` call here shares."""
    return {"local_files_only": hf_offline()}
