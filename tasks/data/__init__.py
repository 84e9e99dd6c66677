"""The data library behind the ingestion and dataset-preparation flows: plain Python, no Prefect,
no lakeFS (the flows wire those in).

    schemas      the two dataset kinds (instruction pairs, corpus documents), Arrow schemas, limits
    sources      read files, folders, URLs, saved Hugging Face datasets -> records + SourceIssues;
                 manifests (checksums, counts)
    python_docs  the built-in default corpus: Python's own documentation, no download
    validate     schema checks, quarantine entries, the max_invalid_fraction policy decision
    normalize    Unicode NFC, control characters, whitespace
    redact       personal data and secrets -> typed placeholders
    quality      length and repetition filters
    dedupe       exact and MinHash-LSH near-duplicate removal
    split        deterministic train/eval split, eval decontamination
    prepare      PrepConfig and prepare_dataset: the pipeline, Parquet outputs, the PrepReport
    report       PrepReport and its Markdown rendering
    synthetic    fake personal data and a labelled synthetic corpus, for tests and benchmarks
    errors       DataError and its subclasses

The usual call, in a flow:

    entries: list[ManifestEntry] = []          # filled while the batches are read
    batches = sources.read_batches(uris, SourceConfig(), manifest=entries)
    report = prepare.prepare_dataset(batches, PrepConfig(), out_dir)
    manifest = SourceManifest(entries=entries)
"""
