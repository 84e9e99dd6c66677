"""Shared fixtures: synthetic instruction pairs and one embedded default model per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing here may reach the hub; set before transformers/huggingface_hub are imported by a test.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tasks.pretrain import build_embedded_model
from tasks.train.config import FinetuneConfig
from tasks.train.data import corpus_texts, instruction_pairs
from tests.unit.train.builders import make_rows


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # peft 0.21 calls a transformers method that transformers 5 deprecates; not ours to fix.
    here = Path(__file__).parent
    for item in items:
        if Path(item.path).is_relative_to(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning"))


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """The test models are far too small to gain from threads, and on a shared 2-core machine extra
    threads only wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def train_rows() -> list[dict[str, str]]:
    return make_rows(96, seed=1)


@pytest.fixture(scope="session")
def eval_rows() -> list[dict[str, str]]:
    return make_rows(24, seed=2)


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory: pytest.TempPathFactory, train_rows: list[dict[str, str]]) -> Path:
    """A tiny Llama of random weights with a tokenizer trained on the training texts, once per session
    (the loop's tests need a model that loads in a blink, not a pretrained one)."""
    config = FinetuneConfig()
    texts = corpus_texts(instruction_pairs(train_rows), config.prompt_template)
    return build_embedded_model(texts, tmp_path_factory.mktemp("base") / "model")


@pytest.fixture(scope="session")
def tokenizer(base_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
