"""Real sentence embeddings of two prompt pools, computed once per session (about 1,000 short texts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.unit.monitor.prompt_pools import everyday_questions, python_questions

# 150 in-domain texts play the retrieval index, 550 are queries; 250 out-of-domain queries.
INDEX_SIZE, QUERY_SIZE, OUT_OF_DOMAIN_SIZE = 150, 550, 250


@dataclass(frozen=True)
class EmbeddedPools:
    queries: np.ndarray  # in-domain prompts (Python documentation questions)
    out_of_domain: np.ndarray  # cooking, travel and sports prompts
    query_top1: np.ndarray  # each in-domain prompt's best cosine similarity to the index
    out_of_domain_top1: np.ndarray


@pytest.fixture(scope="session")
def embedded_pools() -> EmbeddedPools:
    from tasks.services.embedding import embed

    in_domain = embed(python_questions(INDEX_SIZE + QUERY_SIZE, seed=1))
    index, queries = in_domain[:INDEX_SIZE], in_domain[INDEX_SIZE:]
    out_of_domain = embed(everyday_questions(OUT_OF_DOMAIN_SIZE, seed=1))
    return EmbeddedPools(
        queries=queries,
        out_of_domain=out_of_domain,
        query_top1=(queries @ index.T).max(axis=1),
        out_of_domain_top1=(out_of_domain @ index.T).max(axis=1),
    )
