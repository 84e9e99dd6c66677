from __future__ import annotations

from pathlib import Path

import pytest

from tasks.pretrain import EmbeddedModelSpec, PretrainDataError, build_embedded_model
from tasks.train.base_model import resolve_base_model
from tasks.train.config import FinetuneConfig
from tasks.train.errors import BaseModelNotFoundError

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


def test_the_embedded_default_is_the_pretrained_base_passed_in(tmp_path: Path) -> None:
    pretrained = build_embedded_model(TEXTS, tmp_path / "m", SMALL)
    resolved = resolve_base_model(FinetuneConfig(), pretrained, "models:/llmops-base/3")
    assert (resolved.path, resolved.name, resolved.revision) == (pretrained, "models:/llmops-base/3", None)
    with pytest.raises(BaseModelNotFoundError, match="pretrain"):
        resolve_base_model(FinetuneConfig())


def test_the_embedded_model_needs_texts(tmp_path: Path) -> None:
    with pytest.raises(PretrainDataError, match="documents"):
        build_embedded_model([], tmp_path / "m", SMALL)


def test_a_local_model_directory_passes_through(tmp_path: Path) -> None:
    model_dir = build_embedded_model(TEXTS, tmp_path / "m", SMALL)
    resolved = resolve_base_model(FinetuneConfig(base_model=str(model_dir)))
    assert resolved.path == model_dir.resolve() and resolved.revision is None


def test_a_cached_hub_id_resolves_offline_to_its_snapshot_and_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--acme--tiny" / "snapshots" / commit
    build_embedded_model(TEXTS, snapshot, SMALL)
    (tmp_path / "hub" / "models--acme--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny" / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    resolved = resolve_base_model(FinetuneConfig(base_model="acme/tiny"))
    assert (resolved.path, resolved.name, resolved.revision) == (snapshot, "acme/tiny", commit)


@pytest.mark.parametrize("name", ["./no/such/dir", "/no/such/model/dir"])
def test_a_missing_local_path_is_a_typed_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(BaseModelNotFoundError, match="not a directory"):
        resolve_base_model(FinetuneConfig(base_model=name))


def test_an_uncached_hub_id_offline_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(BaseModelNotFoundError, match="offline"):
        resolve_base_model(FinetuneConfig(base_model="Qwen/Qwen2.5-0.5B"))
