"""The release moves the index alias and the champion alias together, or neither."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from flows.release import release_flow
from llmops import clients, prefect_api
from llmops.settings import Settings
from tasks import index, release
from tasks.services import milvus as milvus_service
from tasks.services import mlflow as tracking
from tests.integration.test_registry import _register
from tests.integration.test_retrieval import docs, hash_embed

pytestmark = pytest.mark.integration


def test_release_is_all_or_nothing(running_stack: Settings, tmp_path: Path) -> None:
    milvus = clients.milvus_client(running_stack)
    mlflow = clients.mlflow_client(running_stack)
    config = index.IndexConfig(
        alias=f"rel_{uuid.uuid4().hex[:8]}", chunk_size=300, chunk_overlap=50, validation_sample=10
    )
    live = index.rebuild_index(
        milvus, docs(1, n=10), lakefs_commit=uuid.uuid4().hex, flow_run="fr", config=config, embed=hash_embed
    )
    staged = index.rebuild_index(
        milvus,
        docs(2, n=10),
        lakefs_commit=uuid.uuid4().hex,
        flow_run="fr",
        config=config,
        embed=hash_embed,
        swap=False,
    )
    assert not staged.swapped and milvus_service.alias_target(milvus, config.alias) == live.collection

    name = f"rel-{uuid.uuid4().hex[:6]}"
    v1, v2 = _register(mlflow, name, tmp_path, "one"), _register(mlflow, name, tmp_path, "two")
    release.promote(mlflow, name, v1, reason="first")

    with prefect_api.prefect_context(running_stack):
        failed = release_flow(
            model_name=name, version="999", index_alias=config.alias, collection=staged.collection, return_state=True
        )
        assert failed.is_failed()
        assert milvus_service.alias_target(milvus, config.alias) == live.collection  # rolled back
        assert tracking.aliases(mlflow, name) == {"champion": v1}

        release_flow(model_name=name, version=v2, index_alias=config.alias, collection=staged.collection)
    assert milvus_service.alias_target(milvus, config.alias) == staged.collection
    assert tracking.aliases(mlflow, name) == {"champion": v2, "previous": v1}
