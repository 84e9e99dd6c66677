"""Prefect tasks of the index stage: thin wrappers over tasks/index/build.py."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from llmops import clients
from llmops.settings import load_settings
from tasks.index.build import IndexConfig, IndexResult, rebuild_index
from tasks.index.embedding_cache import EmbeddingCache, model_key
from tasks.prepare import DatasetRef, read_split
from tasks.services.embedding import default_model_path, embed, resolve_precision
from tasks.shared.tasks import flow_run_metadata, transient_only


@task(retries=1, retry_delay_seconds=10, retry_condition_fn=transient_only)
def build_index(dataset: DatasetRef, config: IndexConfig, swap: bool) -> IndexResult:
    """Embed the dataset's corpus into a new Milvus collection and validate it (swap the alias if asked)."""
    settings = load_settings()
    docs = read_split(clients.lakefs_client(settings), dataset, dataset.corpus)
    logger = get_run_logger()

    def embed_texts(texts: list[str]):
        return embed(
            texts,
            batch_size=config.embed_batch_size,
            model_path=config.embedding_model,
            precision=config.embedding_precision,
        )

    embed_fn = embed_texts
    if config.embedding_cache:
        key = model_key(config.embedding_model or default_model_path(), resolve_precision(config.embedding_precision))
        cache = EmbeddingCache(settings.storage.state_dir / "embeddings", key)

        def embed_fn(texts: list[str]):
            vectors = cache.embed(texts, embed_texts)
            logger.info(f"embedding cache: {cache.hits} of {len(texts)} chunks reused, {cache.misses} embedded")
            return vectors

    result = rebuild_index(
        clients.milvus_client(settings),
        docs.to_dict("records"),
        lakefs_commit=dataset.commit,
        flow_run=flow_run_metadata().get("llmops.prefect_flow_run_id", ""),
        config=config,
        embed=embed_fn,
        log=logger.info,
        swap=swap,
    )
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    create_markdown_artifact(
        key="index-build",
        markdown=(
            f"# Index `{result.collection}`\n\n"
            f"{'Reused (same corpus commit and config)' if result.skipped else f'{result.rows} chunks; {timings}'}"
            f"\n\n- alias `{result.alias}` {'moved here' if result.swapped else 'not moved by this step'}"
            f"\n- self-recall in validation: {result.self_recall}\n- replaces: `{result.previous}`\n"
        ),
    )
    return result
