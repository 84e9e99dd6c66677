"""The prepare stage: a raw commit → validated, redacted, deduplicated, split datasets on lakeFS main.

    validate     schema checks, quarantine entries, the max_invalid_fraction policy decision
    normalize    Unicode NFC, control characters, whitespace
    redact       personal data and secrets -> typed placeholders
    quality      length and repetition filters
    shingles     the word and n-gram hashes that quality and dedupe share
    dedupe       exact and MinHash-LSH near-duplicate removal
    split        deterministic train/eval split, eval decontamination
    pipeline     PrepConfig and prepare_dataset: the steps in order, Parquet outputs, the PrepReport
    report       PrepReport and its Markdown rendering
    publish      the lakeFS side: DatasetRef, commit on a run branch, merge into main, tag
    errors       DataError and its subclasses
    tasks        the Prefect task over `prepare_commit`

The usual call, without lakeFS:

    batches = tasks.ingest.read_batches(uris, SourceConfig())
    report = prepare_dataset(batches, PrepConfig(), out_dir)

Other stages use what this file exports.
"""

from tasks.prepare.errors import DataError, OutputError
from tasks.prepare.pipeline import PrepConfig, prepare_dataset
from tasks.prepare.publish import (
    DataPolicyError,
    DatasetRef,
    dataset_ref_at,
    dataset_tag,
    find_dataset,
    prepare_commit,
    read_split,
)
from tasks.prepare.redact import redact_text
from tasks.prepare.report import PrepReport

__all__ = [
    "DataError",
    "DataPolicyError",
    "DatasetRef",
    "dataset_ref_at",
    "OutputError",
    "PrepConfig",
    "PrepReport",
    "dataset_tag",
    "find_dataset",
    "prepare_commit",
    "prepare_dataset",
    "read_split",
    "redact_text",
]
