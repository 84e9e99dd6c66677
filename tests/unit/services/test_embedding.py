"""The packaged embedding model, through the real all-MiniLM-L6-v2 (a few sentences, once per process)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.services.embedding import EmbedderNotFoundError, embed, load_embedder


def test_embeddings_are_unit_length_float32_rows():
    vectors = embed(["How do I sort a list in Python?", "What is a good recipe for lasagna?"], batch_size=2)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_questions_are_closer_than_unrelated_ones():
    sort_list, sort_items, recipe = embed(
        [
            "How do I sort a list in Python?",
            "What is the way to order the items of a Python list?",
            "What is a good recipe for lasagna?",
        ]
    )
    assert sort_list @ sort_items > sort_list @ recipe + 0.3


def test_the_model_is_loaded_once_per_process():
    assert load_embedder() is load_embedder()


def test_no_texts_give_an_empty_matrix():
    assert embed([]).shape == (0, 384)


def test_a_single_string_is_refused():
    with pytest.raises(TypeError, match="sequence of texts"):
        embed("one text")


def test_a_missing_model_directory_names_the_fix(tmp_path):
    with pytest.raises(EmbedderNotFoundError, match="model_path="):
        load_embedder(str(tmp_path / "absent"))
