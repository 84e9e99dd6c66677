"""The preparation pipeline: raw record batches in, Parquet datasets and a report out.

    validate → normalize → redact → quality → derive_pairs → unique_ids → dedupe → split
                                                      (→ decontaminate eval, once train is complete)

``derive_pairs`` turns every document that passed quality into a few question/answer pairs
(``tasks.prepare.pairs``), so a corpus of documents alone gives an instruction dataset; pairs a
source brings are kept beside them. A derived pair takes its split from its document's id, so the
questions on one document are all train or all eval: an eval question's document was never a
source of training pairs, and the model has to answer it from the passage retrieval finds.

The first four steps look at one record at a time (``clean_batch``, run in ``workers`` processes
when above 1, which also computes the MinHash signatures and the split of each record); unique
ids, dedupe and split need the whole run's state (the seen-ids set, the dedupe index, the
decontamination n-grams: hashes, no text) and run here, batch by batch in input order.
Quality runs before dedupe so no MinHash work is spent on records about to be dropped. Eval
records wait in a staging Parquet file until all of train is known, then are decontaminated in
batches. Memory: a few batches plus the indexes (about 5 KB per kept record, mostly datasketch's
LSH tables; measured by ``benchmarks/bench_prepare.py``).

Outputs under ``out_dir`` (each run first removes the previous run's outputs there):

    prepared/train/part-*.parquet   instruction pairs, train split
    prepared/eval/part-*.parquet    instruction pairs, eval split
    corpus/part-*.parquet           documents
    quarantine/quarantine.jsonl     source issues and invalid records, with stage and reason
                                    (string values redacted like the data)
    report.json, report.md          the ``PrepReport``

The data folders are written under ``out_dir/.partial`` and moved into place only when the policy
(``max_invalid_fraction``) lets the run proceed; otherwise only quarantine and report remain.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import shutil
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field, model_validator

from tasks.ingest import ARROW_SCHEMAS, KINDS, Record, SourceIssue, main_text, mark_run_output
from tasks.prepare.dedupe import Deduplicator, Fingerprints, MinHasher, fingerprints
from tasks.prepare.errors import OutputError
from tasks.prepare.normalize import normalize_batch
from tasks.prepare.pairs import derive_pairs
from tasks.prepare.quality import FILTERS, QualityBounds, quality_filter
from tasks.prepare.redact import REDACTION_TYPES, RedactionType, redact_batch, redact_text
from tasks.prepare.report import OutputFile, PrepReport, QuarantineEntry, SplitReport, StepReport
from tasks.prepare.shingles import word_hashes
from tasks.prepare.split import Decontaminator, split_of
from tasks.prepare.validate import Quarantined, decide, id_key, validate_batch

STEPS = ("validate", "normalize", "redact", "quality", "derive_pairs", "unique_ids", "dedupe", "split", "decontaminate")
OUTPUT_DIRS = ("prepared", "corpus", "quarantine", ".partial")
OUTPUT_FILES = ("report.json", "report.md")
_SAMPLE_PER_STEP = 5
# Fields that change how the run is executed but never what it writes; left out of config_hash.
_EXECUTION_ONLY = frozenset({"workers", "quarantine_sample_size"})


class PrepConfig(BaseModel):
    """Every knob of dataset preparation, in pipeline order."""

    # validate
    max_invalid_fraction: float = Field(
        0.05,
        ge=0,
        le=1,
        description="share of invalid input items (source issues + invalid records) above which "
        "the run does not publish its data",
    )
    # normalize
    normal_form: Literal["NFC", "NFKC"] = Field(
        "NFC", description="Unicode normal form; NFKC also folds compatibility characters (ligatures, full-width)"
    )
    whitespace: Literal["keep_indent", "collapse"] = Field(
        "keep_indent",
        description="keep_indent: keep line structure and indentation (code), collapse runs "
        "inside lines; collapse: one line per paragraph",
    )
    # redact
    redact: list[RedactionType] = Field(
        default_factory=lambda: list(REDACTION_TYPES), description="types of personal data and secrets to replace"
    )
    # quality
    min_chars: int = Field(20, ge=0, le=1_000_000, description="drop records whose main text is shorter")
    max_chars: int = Field(100_000, ge=1, le=2_000_000, description="drop records whose main text is longer")
    min_words: int = Field(3, ge=0, le=10_000, description="drop records with fewer words")
    max_duplicate_line_fraction: float = Field(
        0.5, ge=0, le=1, description="drop records where a larger share of non-blank lines repeat an earlier line"
    )
    max_duplicate_ngram_fraction: float = Field(
        0.5, ge=0, le=1, description="drop records where a larger share of word n-grams repeat an earlier one"
    )
    ngram_words: int = Field(3, ge=1, le=10, description="n of the repeated n-gram filter")
    # derive_pairs
    derive_pairs: bool = Field(
        True, description="derive question/answer pairs from every document (headings, definitions, signatures)"
    )
    pairs_per_document: int = Field(4, ge=1, le=50, description="most pairs one document gives")
    answer_chars: int = Field(
        240, ge=40, le=4_000, description="about how long a derived answer is: whole sentences up to this"
    )
    # dedupe
    dedupe: Literal["none", "exact", "near"] = Field(
        "near", description="none; exact (same normalized text); near (exact, then MinHash LSH)"
    )
    near_duplicate_threshold: float = Field(
        0.6,
        ge=0.3,
        le=1,
        description="estimated Jaccard similarity of token shingles at which a record is a near duplicate, "
        "when it also names the same code names and numbers (see benchmarks/bench_dedupe.py for the curve)",
    )
    shingle_tokens: int = Field(
        2, ge=1, le=20, description="tokens per shingle (words, CJK characters, runs of punctuation) for near dedupe"
    )
    lsh_bands: int | None = Field(
        32,
        ge=2,
        le=512,
        description="LSH bands of num_perm / lsh_bands rows; more bands find pairs of lower similarity, "
        "with more candidates to check; none: datasketch's choice for the threshold",
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations: more is more precise and slower")
    # split
    eval_fraction: float = Field(0.05, ge=0, le=0.5, description="share of instruction pairs in the eval split")
    split_seed: str = Field(
        "llmops", min_length=1, max_length=64, description="salt of the split hash; changing it reshuffles the split"
    )
    contamination_threshold: float = Field(
        0.4,
        gt=0,
        le=1,
        description="share of the shorter text's distinct n-grams (of contamination_ngram_words words, "
        "lower-cased, punctuation dropped) that an eval pair shares with a train pair for it to count as "
        "leaked, in either direction; a train pair with the same prompt words always leaks",
    )
    contamination_ngram_words: int = Field(
        6, ge=3, le=50, description="words per n-gram of the decontamination overlap test"
    )
    # output
    rows_per_file: int = Field(250_000, ge=1_000, le=100_000_000, description="rows per Parquet file")
    quarantine_sample_size: int = Field(20, ge=0, le=1_000, description="quarantined items shown in the report")
    # execution
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="processes for the per-record steps (validate to quality, fingerprints); 1 "
        "runs everything in this process; the output is the same either way",
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> PrepConfig:
        if self.min_chars >= self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) must be below max_chars ({self.max_chars})")
        if len(set(self.redact)) != len(self.redact):
            raise ValueError("redact lists a type twice")
        if self.lsh_bands is not None and self.lsh_bands > self.num_perm // 2:
            raise ValueError(f"lsh_bands ({self.lsh_bands}) must be at most num_perm / 2 ({self.num_perm // 2})")
        return self

    def config_hash(self) -> str:
        """A stable hash of everything that decides the output (16 hex digits)."""
        data = self.model_dump(mode="json", exclude=set(_EXECUTION_ONLY))
        data["redact"] = sorted(data["redact"])
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def quality_bounds(self) -> QualityBounds:
        return QualityBounds(
            self.min_chars,
            self.max_chars,
            self.min_words,
            self.max_duplicate_line_fraction,
            self.max_duplicate_ngram_fraction,
            self.ngram_words,
        )


class _PartWriter:
    """Parquet files of one output, a row group per batch, a new file every ``rows_per_file`` rows."""

    def __init__(self, folder: Path, schema: pa.Schema, rows_per_file: int) -> None:
        self.folder, self.schema, self.rows_per_file = folder, schema, rows_per_file
        self.files: list[tuple[Path, int]] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"part-{len(self.files):05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.files.append((path, 0))
        self._rows_in_file = 0

    def write(self, records: Sequence[Record]) -> None:
        start = 0
        while start < len(records):
            if self._writer is None or self._rows_in_file >= self.rows_per_file:
                self.close()
                self._open()
            take = min(len(records) - start, self.rows_per_file - self._rows_in_file)
            chunk = records[start : start + take]
            columns = {name: [r.fields[name] for r in chunk] for name in self.schema.names}
            self._writer.write_table(pa.table(columns, schema=self.schema))
            self._rows_in_file += take
            path, rows = self.files[-1]
            self.files[-1] = (path, rows + take)
            start += take

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self) -> list[tuple[Path, int]]:
        """Close; an output with no rows still gets one empty file, so readers find its schema."""
        if not self.files:
            self._open()
        self.close()
        return self.files


def _redacted_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)[0]
    if isinstance(value, list):
        return [_redacted_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _redacted_value(v) for k, v in value.items()}
    return value


def reset_outputs(out_dir: Path) -> None:
    """Remove what an earlier run wrote in ``out_dir`` (only our own paths), create the folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output path {out_dir} exists and is not a folder; choose another out_dir")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        mark_run_output(out_dir)  # a source folder that holds out_dir never reads it back
        for name in OUTPUT_DIRS:
            if (out_dir / name).exists():
                shutil.rmtree(out_dir / name)
        for name in OUTPUT_FILES:
            (out_dir / name).unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot prepare the output folder {out_dir}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------------------- per-batch work
#
# The per-record steps need no state from other batches, so they run in ``clean_batch``, in
# worker processes when ``workers > 1``. What needs the whole run (seen ids, the dedupe index,
# the decontamination signatures, the writers) stays in ``_Run``, in this process, batch by batch
# in input order.
# workers=1 runs the very same functions inline, so the output does not depend on ``workers``.


@dataclass
class CleanedBatch:
    """The stateless steps' result for one batch (picklable, sent back from a worker)."""

    records_in: Counter[str]
    issues: list[Quarantined]
    invalid: list[Quarantined]
    emptied: list[Quarantined]
    good: list[Record]
    prints: Fingerprints
    splits: list[str]  # per good record: "train", "eval" or "corpus"
    redactions: Counter[str]
    quality: Counter[str]
    quality_sample: list[str]
    changed: dict[str, int]
    stats: dict[str, tuple[int, int, float]]  # step -> (records in, records out, seconds)


@functools.lru_cache(maxsize=4)
def _hasher(num_perm: int, shingle_tokens: int) -> MinHasher:
    return MinHasher(num_perm, shingle_tokens)


def clean_batch(batch: Iterable[Record | SourceIssue], config: PrepConfig) -> CleanedBatch:
    """validate → normalize → redact → quality, then the fingerprints dedupe and decontamination
    will need and the split of each record, for one batch. Pure: the same batch and config always
    give the same result."""
    records: list[Record] = []
    issues: list[Quarantined] = []
    records_in: Counter[str] = Counter()
    for item in batch:
        if isinstance(item, Record):
            records.append(item)
            records_in[item.kind] += 1
        else:
            issues.append(Quarantined.from_issue(item))
    stats: dict[str, tuple[int, int, float]] = {}

    t = time.perf_counter()
    valid, invalid = validate_batch(records)
    stats["validate"] = (len(records), len(valid), time.perf_counter() - t)

    t = time.perf_counter()
    normalized, normalize_changed, emptied = normalize_batch(
        valid, form=config.normal_form, whitespace=config.whitespace
    )
    stats["normalize"] = (len(valid), len(normalized), time.perf_counter() - t)

    t = time.perf_counter()
    redacted, redactions, redact_changed = redact_batch(normalized, config.redact)
    stats["redact"] = (len(normalized), len(redacted), time.perf_counter() - t)

    t = time.perf_counter()
    # Each text's words are hashed once, for the repeated n-gram filter and for the shingles.
    words = [word_hashes(main_text(r)) for r in redacted]
    good, poor, quality = quality_filter(redacted, config.quality_bounds(), words)
    stats["quality"] = (len(redacted), len(good), time.perf_counter() - t)

    passed = {id(r) for r in good}  # quality_filter hands back the same objects
    good_words = [w for w, record in zip(words, redacted, strict=True) if id(record) in passed]
    t = time.perf_counter()
    groups = [r.id for r in good]  # what decides a record's split: its own id, or its document's
    if config.derive_pairs:
        documents = [r for r in good if r.kind == "document"]
        derived = [pair for doc in documents for pair in derived_records(doc, config)]
        good = good + derived
        good_words += [word_hashes(main_text(r)) for r in derived]
        groups += [json.loads(r.fields["meta"])["derived_from"] for r in derived]
        stats["derive_pairs"] = (len(documents), len(derived), time.perf_counter() - t)

    t = time.perf_counter()
    # Decontamination compares eval and train records by long n-grams of the words quality counted.
    prints = fingerprints(
        good,
        config.dedupe,
        _hasher(config.num_perm, config.shingle_tokens),
        ngram_words=config.contamination_ngram_words if config.eval_fraction > 0 else 0,
        words=good_words,
    )
    stats["dedupe"] = (0, 0, time.perf_counter() - t)

    t = time.perf_counter()
    splits = [
        split_of(group, config.eval_fraction, config.split_seed) if r.kind == "instruction" else "corpus"
        for r, group in zip(good, groups, strict=True)
    ]
    stats["split"] = (0, 0, time.perf_counter() - t)

    return CleanedBatch(
        records_in=records_in,
        issues=issues,
        invalid=invalid,
        emptied=[Quarantined.from_record("normalize", r, why) for r, why in emptied],
        good=good,
        prints=prints,
        splits=splits,
        redactions=redactions,
        quality=quality,
        quality_sample=[f"{r.where()} (id {r.id}): {why}" for r, why in poor[:_SAMPLE_PER_STEP]],
        changed={"normalize": normalize_changed, "redact": redact_changed},
        stats=stats,
    )


def derived_records(document: Record, config: PrepConfig) -> list[Record]:
    """The question/answer pairs of one cleaned document, as instruction records pointing back at it."""
    fields = document.fields
    out = []
    for pair in derive_pairs(
        fields.get("title", ""), fields["text"], max_pairs=config.pairs_per_document, answer_chars=config.answer_chars
    ):
        key = hashlib.blake2b(f"{document.id}\x00{pair.prompt}".encode("utf-8", "surrogatepass"), digest_size=10)
        meta = {"derived_from": document.id, "rule": pair.rule, "title": fields.get("title", "")}
        out.append(
            Record(
                "instruction",
                {
                    "id": f"qa-{key.hexdigest()}",
                    "prompt": pair.prompt,
                    "response": pair.response,
                    "source": fields["source"],
                    "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True),
                },
                document.uri,
                f"{document.location} ({pair.rule} pair)",
            )
        )
    return out


def _cleaned(batches: Iterable[Iterable[Record | SourceIssue]], config: PrepConfig) -> Iterator[CleanedBatch]:
    """``clean_batch`` over the batches, in order; in ``config.workers`` processes when above 1,
    with at most two batches per worker in flight so memory stays bounded."""
    if config.workers == 1:
        for batch in batches:
            yield clean_batch(batch, config)
        return
    # spawn, not fork: the caller (a Prefect worker, a test runner) may have threads running.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.workers, mp_context=context) as pool:
        pending: deque[Future[CleanedBatch]] = deque()
        for batch in batches:
            pending.append(pool.submit(clean_batch, list(batch), config))
            if len(pending) >= 2 * config.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _Run:
    """The state of one preparation run across batches, and the outputs."""

    def __init__(self, config: PrepConfig, out_dir: Path) -> None:
        self.config, self.out_dir = config, out_dir
        self.partial = out_dir / ".partial"
        self.started_at = datetime.now(UTC)
        self.clock = time.perf_counter()
        self.steps = {name: StepReport(name=name) for name in STEPS}
        self.records_in: Counter[str] = Counter(dict.fromkeys(KINDS, 0))
        self.source_issues = 0
        self.invalid = 0
        self.redactions: Counter[str] = Counter()
        self.duplicates: dict[str, Counter[str]] = {"exact": Counter(), "near": Counter()}
        self.quality: Counter[str] = Counter()
        self.split = SplitReport()
        self.seen_ids: set[int] = set()
        self.deduplicator = Deduplicator(
            config.dedupe,
            threshold=config.near_duplicate_threshold,
            num_perm=config.num_perm,
            shingle_tokens=config.shingle_tokens,
            bands=config.lsh_bands,
        )
        self.decontaminator = Decontaminator(config.contamination_threshold, config.contamination_ngram_words)
        self.train = _PartWriter(
            self.partial / "prepared" / "train", ARROW_SCHEMAS["instruction"], config.rows_per_file
        )
        self.eval_staging = _PartWriter(
            self.partial / "eval-staging", ARROW_SCHEMAS["instruction"], config.rows_per_file
        )
        self.corpus = _PartWriter(self.partial / "corpus", ARROW_SCHEMAS["document"], config.rows_per_file)
        (out_dir / "quarantine").mkdir(parents=True, exist_ok=True)
        self.quarantine_file = (out_dir / "quarantine" / "quarantine.jsonl").open("w", encoding="utf-8")
        self.quarantined = 0
        self.quarantine_by_stage: Counter[str] = Counter()
        self.quarantine_sample: list[QuarantineEntry] = []

    # ---------------------------------------------------------------- bookkeeping

    def _count(self, name: str, records_in: int, records_out: int, seconds: float) -> None:
        step = self.steps[name]
        step.records_in += records_in
        step.records_out += records_out
        step.seconds += seconds

    def _sample(self, name: str, lines: Iterable[str]) -> None:
        step = self.steps[name]
        for line in lines:
            if len(step.sample) >= _SAMPLE_PER_STEP:
                return
            step.sample.append(line)

    def _dropped(self, name: str, dropped: Sequence[tuple[Record, str]], reason_key: str | None = None) -> None:
        step = self.steps[name]
        for _, reason in dropped:
            key = reason_key or reason
            step.dropped[key] = step.dropped.get(key, 0) + 1
        self._sample(name, (f"{r.where()} (id {r.id}): {why}" for r, why in dropped))

    def _invalid(self, name: str, items: Sequence[Quarantined]) -> None:
        if items:
            step = self.steps[name]
            step.dropped["invalid"] = step.dropped.get("invalid", 0) + len(items)
            self._sample(name, map(str, items))
        self.invalid += len(items)
        self._quarantine(items)

    def _quarantine(self, items: Iterable[Quarantined]) -> None:
        for q in items:
            self.quarantined += 1
            self.quarantine_by_stage[q.stage] += 1
            excerpt = redact_text(q.excerpt)[0] if q.excerpt else ""
            line = {
                "stage": q.stage,
                "uri": q.uri,
                "location": q.location,
                "reason": q.reason,
                "excerpt": excerpt,
                "record": _redacted_value(q.record),
            }
            text = json.dumps(line, ensure_ascii=False, default=str)
            # Invalid UTF-8 from the input (lone surrogates) is written as U+FFFD.
            self.quarantine_file.write(text.encode("utf-8", "replace").decode("utf-8") + "\n")
            if len(self.quarantine_sample) < self.config.quarantine_sample_size:
                self.quarantine_sample.append(
                    QuarantineEntry(
                        stage=q.stage, uri=q.uri, location=q.location, reason=q.reason, excerpt=excerpt[:120]
                    )
                )

    # ---------------------------------------------------------------- one batch

    def absorb(self, batch: CleanedBatch) -> None:
        """The stateful steps for one cleaned batch: unique ids → dedupe → split and write."""
        self.records_in.update(batch.records_in)
        self.source_issues += len(batch.issues)
        self.invalid += len(batch.issues)
        self._quarantine(batch.issues)
        for name, (records_in, records_out, seconds) in batch.stats.items():
            self._count(name, records_in, records_out, seconds)
        self._invalid("validate", batch.invalid)
        self._invalid("normalize", batch.emptied)
        self.steps["normalize"].changed += batch.changed["normalize"]
        self.steps["redact"].changed += batch.changed["redact"]
        self.redactions.update(batch.redactions)
        self.quality.update(batch.quality)
        self.steps["quality"].dropped = {k: self.quality[k] for k in FILTERS if self.quality[k]}
        self._sample("quality", batch.quality_sample)

        t = time.perf_counter()
        rows: list[int] = []
        duplicated: list[Quarantined] = []
        for i, record in enumerate(batch.good):
            key = id_key(record.id)
            if key in self.seen_ids:
                duplicated.append(
                    Quarantined.from_record(
                        "unique_ids", record, f"duplicate id {record.id!r}: an earlier record has the same id"
                    )
                )
            else:
                self.seen_ids.add(key)
                rows.append(i)
        self._count("unique_ids", len(batch.good), len(rows), time.perf_counter() - t)
        self._invalid("unique_ids", duplicated)

        t = time.perf_counter()
        records = [batch.good[i] for i in rows]
        prints = batch.prints if len(rows) == len(batch.good) else batch.prints.take(rows)
        deduped = self.deduplicator.filter(records, prints)
        self._count("dedupe", len(records), len(deduped.kept), time.perf_counter() - t)
        for record, reason in deduped.dropped:
            self.duplicates["exact" if reason.startswith("exact") else "near"][record.kind] += 1
        self._dropped("dedupe", deduped.dropped, None)
        self.steps["dedupe"].dropped = {k: sum(v.values()) for k, v in self.duplicates.items() if v}

        t = time.perf_counter()
        kept_rows = [rows[i] for i in deduped.kept_rows]
        by_split: dict[str, list[int]] = {"train": [], "eval": [], "corpus": []}
        for row in kept_rows:
            by_split[batch.splits[row]].append(row)
        self.train.write([batch.good[i] for i in by_split["train"]])
        self.eval_staging.write([batch.good[i] for i in by_split["eval"]])
        self.corpus.write([batch.good[i] for i in by_split["corpus"]])
        self.split.train += len(by_split["train"])
        self._count("split", len(kept_rows), len(kept_rows), time.perf_counter() - t)

        t = time.perf_counter()
        pairs = sorted(by_split["train"] + by_split["eval"])
        if pairs and batch.prints.ngrams is not None:
            self.decontaminator.add(
                [batch.good[i] for i in pairs],
                [batch.splits[i] for i in pairs],
                [batch.prints.ngrams[i] for i in pairs],
            )
        self.steps["decontaminate"].seconds += time.perf_counter() - t

    # ---------------------------------------------------------------- the end

    def _decontaminate_eval(self) -> _PartWriter:
        writer = _PartWriter(
            self.partial / "prepared" / "eval", ARROW_SCHEMAS["instruction"], self.config.rows_per_file
        )
        t = time.perf_counter()
        reasons = self.decontaminator.contaminated()
        self.steps["decontaminate"].seconds += time.perf_counter() - t
        for path, _ in self.eval_staging.finish():
            for table in pq.ParquetFile(path).iter_batches(batch_size=1_000):
                t = time.perf_counter()
                records = [Record("instruction", row, row["source"], "eval split") for row in table.to_pylist()]
                clean = [r for r in records if r.id not in reasons]
                contaminated = [(r, reasons[r.id]) for r in records if r.id in reasons]
                writer.write(clean)
                self.split.eval += len(clean)
                self.split.contaminated += len(contaminated)
                self._dropped("decontaminate", contaminated, "contaminated")
                self._count("decontaminate", len(records), len(clean), time.perf_counter() - t)
        shutil.rmtree(self.partial / "eval-staging")
        return writer

    def finish(self) -> PrepReport:
        eval_writer = self._decontaminate_eval()
        written = {"train": self.train.finish(), "eval": eval_writer.finish(), "corpus": self.corpus.finish()}
        total = sum(self.records_in.values()) + self.source_issues
        decision = decide(total, self.invalid, self.config.max_invalid_fraction)
        outputs: list[OutputFile] = []
        if decision.proceed:
            for name in ("prepared", "corpus"):
                (self.partial / name).rename(self.out_dir / name)
            for kind, files in written.items():
                for path, rows in files:
                    outputs.append(OutputFile(path=path.relative_to(self.partial).as_posix(), rows=rows, kind=kind))
        shutil.rmtree(self.partial)
        self.quarantine_file.close()
        report = PrepReport(
            config_hash=self.config.config_hash(),
            config=self.config.model_dump(mode="json"),
            started_at=self.started_at,
            seconds=round(time.perf_counter() - self.clock, 3),
            records_in=dict(self.records_in),
            source_issues=self.source_issues,
            steps=[s.model_copy(update={"seconds": round(s.seconds, 4)}) for s in self.steps.values()],
            redactions=dict(sorted(self.redactions.items())),
            duplicates={k: {kind: v[kind] for kind in KINDS} for k, v in self.duplicates.items()},
            quality={k: self.quality[k] for k in FILTERS if self.quality[k]},
            split=self.split,
            outputs=outputs,
            quarantined=self.quarantined,
            quarantine_by_stage=dict(self.quarantine_by_stage),
            quarantine_sample=self.quarantine_sample,
            decision=decision,
        )
        (self.out_dir / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        (self.out_dir / "report.md").write_text(report.to_markdown(), encoding="utf-8")
        return report

    def close(self) -> None:
        for writer in (self.train, self.eval_staging, self.corpus):
            writer.close()
        if not self.quarantine_file.closed:
            self.quarantine_file.close()


def prepare_dataset(
    raw_record_batches: Iterable[Iterable[Record | SourceIssue]], config: PrepConfig, out_dir: Path
) -> PrepReport:
    """Validate, clean, deduplicate and split raw record batches into Parquet datasets under
    ``out_dir``; return the report (also written as ``report.json`` and ``report.md``).

    Batches may mix records and source issues (``sources.read_batches`` yields such lists); issues
    go to quarantine and count as invalid input. Step times in the report are summed over worker
    processes when ``config.workers > 1``."""
    out_dir = Path(out_dir)
    reset_outputs(out_dir)
    run = _Run(config, out_dir)
    try:
        for cleaned in _cleaned(raw_record_batches, config):
            run.absorb(cleaned)
        return run.finish()
    finally:
        run.close()
