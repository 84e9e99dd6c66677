"""One adapter per external system, the same calls for the embedded default and production.

    lakefs.py     data versioning on the official lakeFS clients: URIs, branches, objects, commits, merges, tags
    mlflow.py     runs, batched metrics, `lakefs://` dataset inputs, registered versions, aliases
    milvus.py     collection metadata, aliases, search
    embedding.py  the one sentence-embedding model of the index, serving and the drift check

None of them reads settings or imports Prefect; stages pass them clients (`llmops.clients`).
"""
