from __future__ import annotations

from pathlib import Path

import pytest

from tasks.train.base_model import EmbeddedModelSpec, build_embedded_model, resolve_base_model
from tasks.train.config import FinetuneConfig
from tasks.train.errors import BaseModelNotFoundError, TrainingDataError

TEXTS = ["the cat sat on the mat", "the dog ate the bone", "add two and three to get five"] * 5
SMALL = EmbeddedModelSpec(
    vocab_size=300, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_key_value_heads=1
)


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file() and p.name != "BUILD_COMPLETE"}


def test_the_embedded_model_is_deterministic(tmp_path: Path) -> None:
    a = build_embedded_model(TEXTS, tmp_path / "a", SMALL)
    b = build_embedded_model(TEXTS, tmp_path / "b", SMALL)
    assert _files(a) == _files(b)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(_files(a))


def test_the_embedded_tokenizer_round_trips_and_has_distinct_specials(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(build_embedded_model(TEXTS, tmp_path / "m", SMALL)))
    assert len({tok.pad_token_id, tok.bos_token_id, tok.eos_token_id}) == 3
    text = "the cat ate 42 émojis 🐈\n"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text  # byte level: nothing is unknown


def test_resolve_builds_once_per_texts_and_spec(tmp_path: Path) -> None:
    config = FinetuneConfig()
    first = resolve_base_model(config, TEXTS, tmp_path, SMALL)
    mtime = (Path(first) / "model.safetensors").stat().st_mtime_ns
    assert resolve_base_model(config, TEXTS, tmp_path, SMALL) == first
    assert (Path(first) / "model.safetensors").stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert resolve_base_model(config, TEXTS[:-1], tmp_path, SMALL) != first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_the_embedded_model_needs_texts(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError):
        resolve_base_model(FinetuneConfig(), [], tmp_path, SMALL)


def test_a_local_model_directory_passes_through(tmp_path: Path) -> None:
    model_dir = build_embedded_model(TEXTS, tmp_path / "m", SMALL)
    assert resolve_base_model(FinetuneConfig(base_model=str(model_dir)), [], tmp_path) == model_dir


@pytest.mark.parametrize("name", ["./no/such/dir", "/no/such/model/dir"])
def test_a_missing_local_path_is_a_typed_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(BaseModelNotFoundError, match="not a directory"):
        resolve_base_model(FinetuneConfig(base_model=name), [], tmp_path)


def test_an_uncached_hub_id_offline_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(BaseModelNotFoundError, match="offline"):
        resolve_base_model(FinetuneConfig(base_model="Qwen/Qwen2.5-0.5B"), [], tmp_path)
