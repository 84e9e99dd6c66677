"""Dataset preparation on a labelled synthetic corpus: throughput, detection quality, memory.

Side by side in one run, on the same deterministic corpus (``tests.synthetic``: planted near
and exact duplicates, look-alikes, personal data of every type, quality outliers, invalid records):

- records/s of each step run alone over the whole corpus (its input prepared by the steps before
  it, untimed), and of the whole ``prepare_dataset`` pipeline (1 process, and with 2 workers);
- the pipeline's throughput over the slowest step's (goal >= 0.5);
- near-duplicate precision and recall on the planted set (goals >= 0.95 and >= 0.90);
- redaction recall by type on the planted values (goal >= 0.99), and what the redactor finds in
  the built-in Python documentation corpus, where every hit is a false positive or a real address;
- peak memory (RSS, sampled every 10 ms) of the pipeline runs.

The corpus is written to a JSONL file first (untimed); each pipeline run streams it through
``sources.read_batches`` into ``prepare_dataset``, as the flow does, so its time includes reading.

    python benchmarks/bench_prepare.py [--records 100000] [--out results.json] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

import psutil
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.ingest.records import TEXT_FIELDS, Record
from tasks.ingest.sources import SourceConfig, read_batches
from tasks.ingest.sources.python_docs import read_python_docs
from tasks.prepare.dedupe import Deduplicator
from tasks.prepare.normalize import normalize_batch
from tasks.prepare.pipeline import PrepConfig, prepare_dataset
from tasks.prepare.quality import quality_filter
from tasks.prepare.redact import PLACEHOLDERS, REDACTION_TYPES, redact_batch, redact_text
from tasks.prepare.split import Decontaminator, split_of
from tasks.prepare.validate import validate_batch
from tests.synthetic import CorpusTruth, SyntheticCorpus

GOALS = {
    "pipeline_over_slowest_step": 0.5,
    "near_dup_precision": 0.95,
    "near_dup_recall": 0.90,
    "redaction_recall": 0.99,
}


def rss() -> int:
    return psutil.Process().memory_info().rss


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _pipeline_child(conn: Connection, corpus_file: Path, records: int, batch_size: int, workers: int) -> None:
    """One pipeline run in a fresh process, so that its peak RSS (the kernel's high-water mark,
    ``ru_maxrss``) is this run's and nothing else's."""
    pa.array(["warm-up"])  # pyarrow imports pandas on its first list conversion: not part of the run
    baseline = rss()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    with tempfile.TemporaryDirectory() as out:
        batches = read_batches([corpus_file], SourceConfig(batch_size=batch_size, limit=records))
        report = prepare_dataset(batches, PrepConfig(workers=workers), Path(out))
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    conn.send(
        {
            "workers": workers,
            "records": records,
            "seconds": round(seconds, 2),
            "records_per_s": round(records / seconds),
            "cpu_seconds": round(cpu, 2),
            "records_per_cpu_s": round(records / cpu),
            "baseline_rss_mb": round(baseline / 2**20, 1),
            "peak_rss_mb": round(peak / 2**20, 1),
            "rss_growth_mb": round((peak - baseline) / 2**20, 1),
            "worker_peak_rss_mb": round(worker_peak / 2**20, 1) if workers > 1 else None,
            "train": report.split.train,
            "eval": report.split.eval,
            "corpus": report.rows("corpus"),
            "quarantined": report.quarantined,
            "decision": report.decision.proceed,
            "report_step_seconds": {s.name: s.seconds for s in report.steps},
        }
    )


def run_pipeline(corpus_file: Path, records: int, batch_size: int, workers: int) -> dict[str, object]:
    """Read the JSONL corpus and prepare it, streamed batch by batch as the flow does, in a fresh process."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_pipeline_child, args=(send, corpus_file, records, batch_size, workers))
    child.start()
    result = receive.recv()
    child.join()
    return result


def timed(fn, *args):
    """fn's result and (wall seconds, CPU seconds)."""
    started, cpu_started = time.perf_counter(), cpu_seconds()
    result = fn(*args)
    return result, (time.perf_counter() - started, cpu_seconds() - cpu_started)


def run_steps(
    corpus_file: Path, truth: CorpusTruth, batch_size: int
) -> tuple[dict[str, dict[str, float]], dict[str, object]]:
    """Each step alone over all batches (held in memory, read untimed); timings and detection quality."""
    batches = [
        [r for r in b if isinstance(r, Record)]
        for b in read_batches([corpus_file], SourceConfig(batch_size=batch_size))
    ]
    n = sum(map(len, batches))
    config = PrepConfig()
    steps: dict[str, dict[str, float]] = {}

    def record(name: str, count: int, seconds: tuple[float, float]) -> None:
        wall, cpu = seconds
        steps[name] = {
            "records": count,
            "seconds": round(wall, 3),
            "records_per_s": round(count / wall),
            "cpu_seconds": round(cpu, 3),
            "records_per_cpu_s": round(count / cpu),
        }

    out, seconds = timed(lambda: [validate_batch(b, set()) for b in batches])
    record("validate", n, seconds)
    valid = [v for v, _ in out]
    rejected = {q.record.get("id") for _, bad in out for q in bad}

    count = sum(map(len, valid))
    out, seconds = timed(lambda: [normalize_batch(b) for b in valid])
    record("normalize", count, seconds)
    normalized = [b for b, _, _ in out]

    count = sum(map(len, normalized))
    out, seconds = timed(lambda: [redact_batch(b) for b in normalized])
    record("redact", count, seconds)
    redacted = [b for b, _, _ in out]

    count = sum(map(len, redacted))
    bounds = config.quality_bounds()
    out, seconds = timed(lambda: [quality_filter(b, bounds) for b in redacted])
    record("quality", count, seconds)
    good = [b for b, _, _ in out]
    quality_dropped = {r.id: why for _, poor, _ in out for r, why in poor}

    count = sum(map(len, good))
    deduplicator = Deduplicator(
        "near",
        threshold=config.near_duplicate_threshold,
        num_perm=config.num_perm,
        shingle_tokens=config.shingle_tokens,
        bands=config.lsh_bands,
    )
    out, seconds = timed(lambda: [deduplicator.filter(b) for b in good])
    record("dedupe", count, seconds)
    kept = [r.kept for r in out]
    near_dropped = {rec.id for r in out for rec, why in r.dropped if why.startswith("near")}
    exact_dropped = {rec.id for r in out for rec, why in r.dropped if why.startswith("exact")}

    count = sum(map(len, kept))

    def split_all() -> dict[str, str]:
        decontaminator = Decontaminator(config.contamination_threshold, config.contamination_ngram_words)
        for batch in kept:
            pairs = [r for r in batch if r.kind == "instruction"]
            decontaminator.add(pairs, [split_of(r.id, config.eval_fraction, config.split_seed) for r in pairs])
        return decontaminator.contaminated()

    _, seconds = timed(split_all)
    record("split", count, seconds)

    # Detection quality against the planted truth.
    planted_near = set(truth.near_duplicates)
    hits = len(near_dropped & planted_near)
    by_id = {r.id: r for batch in redacted for r in batch}
    recall: dict[str, list[int]] = {t: [0, 0] for t in REDACTION_TYPES}
    for rid, planted in truth.pii.items():
        text = " ".join(by_id[rid].fields[f] for f in TEXT_FIELDS[by_id[rid].kind]) if rid in by_id else None
        for kind, secret in planted:
            recall[kind][1] += 1
            recall[kind][0] += int(text is not None and secret not in text)
    outliers_caught = sum(1 for rid, expected in truth.outliers.items() if quality_dropped.get(rid) == expected)
    quality = {
        "near_dup_planted": len(planted_near),
        "near_dup_flagged": len(near_dropped),
        "near_dup_precision": round(hits / len(near_dropped), 4) if near_dropped else 0.0,
        "near_dup_recall": round(hits / len(planted_near), 4) if planted_near else 0.0,
        "lookalikes_flagged": len(near_dropped & truth.lookalikes),
        "exact_dup_recall": round(
            len(exact_dropped & set(truth.exact_duplicates)) / max(1, len(truth.exact_duplicates)), 4
        ),
        "redaction_recall": {k: round(found / total, 4) for k, (found, total) in recall.items() if total},
        "redaction_planted": {k: total for k, (_, total) in recall.items()},
        "outliers_dropped_by_expected_filter": f"{outliers_caught}/{len(truth.outliers)}",
        "invalid_rejected": f"{len(rejected & truth.invalid)}/{len(truth.invalid)}",
    }
    return steps, quality


def python_docs_redactions() -> dict[str, object]:
    """What the redactor replaces in the default corpus: no personal data was planted there."""
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    records = chars = 0
    started = time.perf_counter()
    for item in read_python_docs():
        if not isinstance(item, Record):
            continue
        records += 1
        for name in TEXT_FIELDS[item.kind]:
            text = item.fields[name]
            chars += len(text)
            redacted, found = redact_text(text)
            counts.update(found)
            for kind in found:
                at = redacted.find(PLACEHOLDERS[kind])
                snippet = " ".join(redacted[max(0, at - 40) : at + 30].split())
                if len(examples.setdefault(kind, [])) < 3:
                    examples[kind].append(snippet)
    return {
        "records": records,
        "characters": chars,
        "seconds": round(time.perf_counter() - started, 2),
        "found": dict(sorted(counts.items())),
        "examples": examples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="also run the pipeline with this many workers (1: skip)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    n = args.records

    print(f"preparing {n:,} synthetic records, batches of {args.batch_size:,}, on {os.cpu_count()} CPUs", flush=True)
    # pyarrow imports pandas on its first list conversion (about a second, once per process): pay
    # it here rather than inside the first timed run.
    pa.array(["warm-up"])
    with tempfile.TemporaryDirectory() as tmp:
        corpus_file = Path(tmp) / "corpus.jsonl"
        corpus = SyntheticCorpus(seed=args.seed)
        corpus.write_jsonl(corpus_file, n)
        input_mb = corpus_file.stat().st_size / 2**20
        pipelines = [run_pipeline(corpus_file, n, args.batch_size, 1)]
        if args.workers > 1:
            pipelines.append(run_pipeline(corpus_file, n, args.batch_size, args.workers))
        # A quarter of the input, to split peak memory into what grows with the input (the dedupe
        # and decontamination indexes) and what does not (batches, buffers, libraries).
        quarter = run_pipeline(corpus_file, n // 4, args.batch_size, 1)
        steps, quality = run_steps(corpus_file, corpus.truth, args.batch_size)
    docs = python_docs_redactions()

    slowest = min(steps, key=lambda s: steps[s]["records_per_s"])
    slowest_cpu = min(steps, key=lambda s: steps[s]["records_per_cpu_s"])
    ratios = {
        f"workers={p['workers']}": round(p["records_per_s"] / steps[slowest]["records_per_s"], 3) for p in pipelines
    }
    # CPU time does not depend on what else runs on the machine; for one process it shows the
    # composition's own overhead against its slowest step.
    cpu_ratio = round(pipelines[0]["records_per_cpu_s"] / steps[slowest_cpu]["records_per_cpu_s"], 3)
    growth_per_record_kb = (pipelines[0]["rss_growth_mb"] - quarter["rss_growth_mb"]) * 1024 / (n - n // 4)
    fixed_mb = quarter["rss_growth_mb"] - growth_per_record_kb * (n // 4) / 1024
    memory = {
        "peak_rss_mb": pipelines[0]["peak_rss_mb"],
        "rss_growth_mb": pipelines[0]["rss_growth_mb"],
        "rss_growth_mb_quarter_input": quarter["rss_growth_mb"],
        "index_kb_per_record": round(growth_per_record_kb, 2),
        "fixed_mb": round(fixed_mb, 1),
    }
    min_recall = min(quality["redaction_recall"].values())
    checks = {
        "pipeline_over_slowest_step": max(cpu_ratio, *ratios.values()) >= GOALS["pipeline_over_slowest_step"],
        "near_dup_precision": quality["near_dup_precision"] >= GOALS["near_dup_precision"],
        "near_dup_recall": quality["near_dup_recall"] >= GOALS["near_dup_recall"],
        "redaction_recall": min_recall >= GOALS["redaction_recall"],
    }

    print(f"\ninput: {input_mb:,.0f} MB of JSONL; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"\n{'':<22}{'records':>10}{'wall s':>9}{'records/s':>11}{'CPU s':>9}{'rec/CPU s':>11}")
    for name, s in steps.items():
        marker = "  <- slowest" if name == slowest_cpu else ""
        print(
            f"{name + ' (alone)':<22}{s['records']:>10,}{s['seconds']:>9.2f}{s['records_per_s']:>11,}"
            f"{s['cpu_seconds']:>9.2f}{s['records_per_cpu_s']:>11,}{marker}"
        )
    for p in [*pipelines, quarter]:
        print(
            f"{'pipeline, workers=' + str(p['workers']):<22}{p['records']:>10,}{p['seconds']:>9.2f}"
            f"{p['records_per_s']:>11,}{p['cpu_seconds']:>9.2f}{p['records_per_cpu_s']:>11,}"
            f"   peak RSS {p['peak_rss_mb']:,.0f} MB (+{p['rss_growth_mb']:,.0f} MB over the libraries)"
        )
    print(
        f"\npipeline / slowest step alone ({slowest_cpu}): CPU time, workers=1: {cpu_ratio:.2f}; wall clock: "
        + ", ".join(f"{k}: {v:.2f}" for k, v in ratios.items())
        + f"   (goal >= {GOALS['pipeline_over_slowest_step']})"
    )
    print(
        f"memory: {memory['index_kb_per_record']:.1f} KB more per record (the dedupe and decontamination indexes), "
        f"{memory['fixed_mb']:,.0f} MB regardless of input size (batches, buffers)"
    )
    print(
        f"near duplicates: precision {quality['near_dup_precision']:.4f} (goal >= {GOALS['near_dup_precision']}), "
        f"recall {quality['near_dup_recall']:.4f} (goal >= {GOALS['near_dup_recall']}), "
        f"{quality['near_dup_flagged']:,} flagged of {quality['near_dup_planted']:,} planted; "
        f"look-alikes flagged: {quality['lookalikes_flagged']}"
    )
    print(
        "redaction recall by type: "
        + ", ".join(f"{k} {v:.3f}" for k, v in quality["redaction_recall"].items())
        + f"   (goal >= {GOALS['redaction_recall']}, {sum(quality['redaction_planted'].values()):,} planted)"
    )
    print(
        f"quality outliers dropped by the expected filter: {quality['outliers_dropped_by_expected_filter']}; "
        f"invalid records rejected: {quality['invalid_rejected']}"
    )
    print(
        f"python docs corpus ({docs['records']:,} records, {docs['characters']:,} chars): redactions "
        f"{docs['found'] or 'none'}"
    )
    for kind, shown in docs["examples"].items():
        for snippet in shown:
            print(f"    {kind}: ...{snippet}...")
    print("goals: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in checks.items()))

    result = {
        "records": n,
        "input_mb": round(input_mb, 1),
        "batch_size": args.batch_size,
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "steps": steps,
        "slowest_step": slowest_cpu,
        "load_average": os.getloadavg()[0],
        "pipelines": [*pipelines, quarter],
        "pipeline_over_slowest_step": ratios,
        "pipeline_over_slowest_step_cpu": cpu_ratio,
        "memory": memory,
        "detection": quality,
        "python_docs_redactions": docs,
        "goals": GOALS,
        "goals_met": checks,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
