"""The ingest stage: sources → raw records committed to lakeFS, as read, before any processing.

    records.py   Record and SourceIssue, the two things a source yields, the dataset schemas, and ids
                 (a record without one gets a content id, never one from its file or line)
    sources/     one module per source kind (files, http, hf, python_docs), the formats they parse
    raw.py       the raw commit: records and issues as gzip JSON lines plus the source manifest
    tasks.py     the Prefect task over `ingest_raw`

Other stages use what this file exports.
"""

from tasks.ingest.raw import (
    RAW_RECORDS,
    RawRef,
    ingest_raw,
    new_workdir,
    raw_ref_at,
    read_raw_batches,
    tag_commit,
    write_raw_records,
)
from tasks.ingest.records import (
    ARROW_SCHEMAS,
    DOCUMENT_SCHEMA,
    FIELDS,
    ID_MAX_CHARS,
    INSTRUCTION_SCHEMA,
    KINDS,
    META_MAX_CHARS,
    TEXT_FIELDS,
    ContentIds,
    Kind,
    Record,
    SourceIssue,
    content_id,
    main_text,
    make_id,
)
from tasks.ingest.sources import (
    PYTHON_DOCS_URI,
    RUN_OUTPUT_MARKER,
    ManifestEntry,
    SourceConfig,
    SourceManifest,
    json_error,
    mark_run_output,
    read_batches,
    read_source,
    read_sources,
)

__all__ = [
    "ARROW_SCHEMAS",
    "DOCUMENT_SCHEMA",
    "FIELDS",
    "ID_MAX_CHARS",
    "INSTRUCTION_SCHEMA",
    "KINDS",
    "META_MAX_CHARS",
    "PYTHON_DOCS_URI",
    "RAW_RECORDS",
    "RUN_OUTPUT_MARKER",
    "TEXT_FIELDS",
    "ContentIds",
    "Kind",
    "ManifestEntry",
    "RawRef",
    "Record",
    "SourceConfig",
    "SourceIssue",
    "SourceManifest",
    "content_id",
    "ingest_raw",
    "raw_ref_at",
    "json_error",
    "main_text",
    "make_id",
    "mark_run_output",
    "new_workdir",
    "read_batches",
    "read_raw_batches",
    "read_source",
    "read_sources",
    "tag_commit",
    "write_raw_records",
]
