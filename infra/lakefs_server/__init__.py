"""A lakeFS-compatible HTTP server: the embedded default for data versioning.

It speaks the lakeFS REST API (``/api/v1``) well enough for the official clients (``lakefs-sdk``,
``lakefs``, ``lakefs-spec``) to work unchanged; production deployments run real lakeFS instead.
Objects are stored content-addressed on local disk (``blobs``), metadata in SQLite (``db``);
commits are trees of immutable ranges (``metaranges``), so branches and copies are free.

    python -m infra.lakefs_server --host 127.0.0.1 --port 8000 --data-dir DIR --credentials-file FILE

or, in-process, ``create_app(data_dir, credentials_file)``.
"""

from infra.lakefs_server.app import create_app

__all__ = ["create_app"]
