"""Near-duplicate detection and eval decontamination on real text: the code before issue 12 (git commit
``ISSUE_12_BASELINE``) and the working tree, side by side in one run.

The text is ``tests/data/near_duplicates``: documentation of the standard library and the pairs
derived from it (``builtin:python-docs``), sibling APIs documented in nearly the same words, and
hand-written operator flips and Chinese and Japanese records; nothing from ``tests/synthetic.py``.
A seeded editor below (written for this benchmark, not by the code under test) makes the copies:

- substitute / insert: a share (2, 5, 10, 20%) of the words replaced by, or added as, words of the
  base set (a Chinese or Japanese character for CJK text). Only prose words change: a copy keeps
  its code names, operators and numbers (changing those makes another record, not a copy);
- reorder: the sentences of the longest field shuffled;
- truncate: the last share of the words cut.

Reported, for the baseline ("before") and for the working tree ("new"):

- near dedupe: recall per edit kind and share (the copy is dropped as a copy of its original),
  precision (correct drops over all drops, in a run of the base set followed by one copy of each
  base record), the sibling pairs dropped; the "one word changed in a 20-60-word answer" set;
- the precision/recall curve that chose the defaults: exact Jaccard of token n-gram shingles per
  shingle size and threshold, with the name check; and the LSH S-curve of a few bandings;
- decontamination: on 500 pairs plus a 5%-edited twin of each, through the whole pipeline (eval
  fraction 0.2), the eval items whose twin is in train; and the Decontaminator alone on 5% and
  10% edits, an eval item inside a longer train record, a train record inside a longer eval item,
  the same prompt with other punctuation, and unrelated pairs (false alarms);
- records/s of the whole preparation (``prepare_dataset``) on the built-in corpus.

The baseline's modules are loaded from git (``git show <commit>:tasks/prepare/...``) into a temporary
package; nothing of them is kept in the repository.

    python benchmarks/bench_dedupe.py [--out results.json] [--docs 4000]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import ISSUE_12_BASELINE  # noqa: E402
from tasks.ingest.records import Record, main_text  # noqa: E402
from tasks.ingest.sources import SourceConfig, read_batches  # noqa: E402
from tasks.prepare import dedupe as new_dedupe  # noqa: E402
from tasks.prepare import pipeline as new_pipeline  # noqa: E402
from tasks.prepare import split as new_split  # noqa: E402
from tasks.prepare.shingles import ngram_set, shingle_hashes, token_hashes, word_hashes  # noqa: E402

DATA = ROOT / "tests" / "data" / "near_duplicates"
GOALS = {"near_dup_recall_up_to_10pct": 0.95, "near_dup_precision": 0.99, "twin_leakage_below": 0.01}
KINDS = ("substitute", "insert", "reorder", "truncate")
SHARES = (0.02, 0.05, 0.10, 0.20)
# The modules this work replaced, and the ones that import them.
_OLD_MODULES = ("shingles", "dedupe", "split", "pipeline")


# ---------------------------------------------------------------------------- today's code


def load_head_modules(tmp: Path) -> dict[str, ModuleType]:
    """tasks/prepare/{shingles,dedupe,split,pipeline}.py as committed at the baseline, importable as the
    package ``head_prepare`` (their imports of each other redirected; everything else is shared)."""
    package = tmp / "head_prepare"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in _OLD_MODULES:
        source = subprocess.run(
            ["git", "show", f"{ISSUE_12_BASELINE}:tasks/prepare/{name}.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for other in _OLD_MODULES:
            source = source.replace(f"from tasks.prepare.{other} import", f"from head_prepare.{other} import")
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp))
    return {name: importlib.import_module(f"head_prepare.{name}") for name in _OLD_MODULES}


# ---------------------------------------------------------------------------- the evaluation set


def _record(row: dict[str, str]) -> Record:
    if row["kind"] == "instruction":
        fields = {"id": row["id"], "prompt": row["prompt"], "response": row["response"]}
    else:
        fields = {"id": row["id"], "title": row.get("title", ""), "text": row["text"]}
    return Record(row["kind"], {**fields, "source": "bench", "meta": "{}"}, "bench", row["id"])


def load_base() -> tuple[list[Record], list[tuple[str, str, str]]]:
    """The distinct base records and the pairs of them that a reader could mistake for copies."""
    rows = [json.loads(line) for name in ("base.jsonl", "handwritten.jsonl") for line in open(DATA / name)]
    records = [_record(r) for r in rows]
    negatives = [(s["a"], s["b"], s["why"]) for s in map(json.loads, open(DATA / "siblings.jsonl"))]
    groups: dict[str, list[str]] = {}
    for row in rows:
        if "group" in row:
            groups.setdefault(row["group"], []).append(row["id"])
    negatives += [(a, b, f"hand-written: {group}") for group, (a, b) in groups.items()]
    return records, negatives


_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
_UNIT = re.compile(rf"\s+|[{_CJK}]|[^\s{_CJK}]+")
_PROSE = re.compile(r"([A-Za-z]{2,})([,.;:!?]?)")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


class Editor:
    """Seeded edits of a record's text fields, by share of its words (see the module docstring)."""

    def __init__(self, records: Sequence[Record], seed: int = 0) -> None:
        self.rng = random.Random(seed)
        words: set[str] = set()
        chars: set[str] = set()
        for record in records:
            text = main_text(record)
            words.update(w.lower() for w in re.findall(r"\b[A-Za-z]{3,}\b", text))
            chars.update(_CJK_CHAR.findall(text))
        self.words, self.chars = sorted(words), sorted(chars)

    @staticmethod
    def _fields(record: Record) -> list[str]:
        return ["prompt", "response"] if record.kind == "instruction" else ["text"]

    def _units(self, record: Record) -> dict[str, list[str]]:
        return {f: _UNIT.findall(record.fields[f]) for f in self._fields(record)}

    def _rebuilt(self, record: Record, units: dict[str, list[str]], suffix: str) -> Record:
        fields = {**record.fields, **{f: "".join(u) for f, u in units.items()}, "id": f"{record.id}~{suffix}"}
        return Record(record.kind, fields, record.uri, record.location)

    def _other_word(self, word: str) -> str:
        while True:
            choice = self.rng.choice(self.words)
            if choice != word.lower():
                return choice.capitalize() if word[0].isupper() else choice

    def _other_char(self, char: str) -> str:
        while True:
            choice = self.rng.choice(self.chars)
            if choice != char:
                return choice

    @staticmethod
    def _count(units: dict[str, list[str]], share: float) -> int:
        words = sum(1 for u in units.values() for x in u if not x.isspace())
        return max(1, round(share * words))

    def substitute(self, record: Record, share: float, suffix: str = "", count: int | None = None) -> Record:
        units = self._units(record)
        slots = [
            (f, i)
            for f, u in units.items()
            for i, x in enumerate(u)
            if _PROSE.fullmatch(x) or (len(x) == 1 and _CJK_CHAR.fullmatch(x))
        ]
        for f, i in self.rng.sample(slots, min(len(slots), count or self._count(units, share))):
            x = units[f][i]
            if len(x) == 1 and _CJK_CHAR.fullmatch(x):
                units[f][i] = self._other_char(x)
            else:
                word, mark = _PROSE.fullmatch(x).groups()
                units[f][i] = self._other_word(word) + mark
        return self._rebuilt(record, units, suffix or f"substitute{share:.0%}")

    def insert(self, record: Record, share: float) -> Record:
        units = self._units(record)
        slots = [(f, i) for f, u in units.items() for i, x in enumerate(u) if not x.isspace()]
        chosen = sorted(self.rng.sample(slots, min(len(slots), self._count(units, share))), reverse=True)
        for f, i in chosen:  # from the end, so earlier positions stay valid
            x = units[f][i]
            units[f].insert(i + 1, self._other_char(x) if _CJK_CHAR.fullmatch(x[-1]) else " " + self._other_word("a"))
        return self._rebuilt(record, units, f"insert{share:.0%}")

    def reorder(self, record: Record) -> Record:
        field = max(self._fields(record), key=lambda f: len(record.fields[f]))
        text = record.fields[field]
        sentences = [s for s in _SENTENCE.split(text) if s.strip()]
        if len(sentences) >= 2:
            order = list(range(len(sentences)))
            while order == sorted(order):
                self.rng.shuffle(order)
            glue = "" if _CJK_CHAR.search(text) else " "
            moved = glue.join(sentences[i] for i in order)
        else:  # one sentence: swap its halves at a space
            spaces = [m.start() for m in re.finditer(r"\s", text)] or [len(text) // 2]
            cut = spaces[len(spaces) // 2]
            moved = text[cut:].strip() + " " + text[:cut].strip()
        return self._rebuilt(record, {field: [moved]}, "reorder")

    def truncate(self, record: Record, share: float) -> Record:
        units = self._units(record)
        field = self._fields(record)[-1]
        cut = self._count(units, share)
        kept = list(units[field])
        while cut and sum(1 for x in kept if not x.isspace()) > 1:
            if not kept.pop().isspace():
                cut -= 1
        units[field] = kept
        return self._rebuilt(record, units, f"truncate{share:.0%}")

    def edit(self, record: Record, kind: str, share: float) -> Record:
        if kind == "reorder":
            return self.reorder(record)
        return getattr(self, kind)(record, share)


def copies_of(base: Sequence[Record], editor: Editor) -> dict[str, list[Record]]:
    """{"substitute 5%": one copy of every base record, ...}; reorder has one level."""
    out = {}
    for kind in KINDS:
        for share in (None,) if kind == "reorder" else SHARES:
            label = kind if share is None else f"{kind} {share:.0%}"
            out[label] = [editor.edit(r, kind, share or 0.0) for r in base]
    return out


# ---------------------------------------------------------------------------- near dedupe


def _named(reason: str) -> str:
    return reason.split(" of ", 1)[1].split(" (")[0]


def evaluate_dedupe(
    make: Callable[[], object], base: list[Record], copies: dict[str, list[Record]], negatives
) -> dict[str, object]:
    """Recall per edit, precision, sibling pairs dropped, for one implementation."""
    deduplicator = make()
    started = time.perf_counter()
    first = deduplicator.filter(base)
    base_seconds = time.perf_counter() - started
    base_dropped = {r.id: _named(why) for r, why in first.dropped}
    negative_pairs = {frozenset((a, b)): why for a, b, why in negatives}
    siblings_dropped = [
        {"dropped": rid, "as_copy_of": other, "why_similar": negative_pairs[frozenset((rid, other))]}
        for rid, other in base_dropped.items()
        if frozenset((rid, other)) in negative_pairs
    ]
    per_edit = {}
    for label, batch in copies.items():
        index = copy.deepcopy(deduplicator)
        result = index.filter(batch)
        right = sum(1 for r, why in result.dropped if _named(why) == r.id.rsplit("~", 1)[0])
        wrong = len(result.dropped) - right
        flagged = right + wrong + len(base_dropped)
        per_edit[label] = {
            "recall": round(right / len(batch), 4),
            "precision": round(right / flagged, 4) if flagged else 1.0,
            "wrong_matches": wrong,
        }
    return {
        "base_records": len(base),
        "base_records_dropped": len(base_dropped),
        "base_dropped_examples": sorted(base_dropped.items())[:10],
        "sibling_pairs": len(negatives),
        "sibling_pairs_dropped": len(siblings_dropped),
        "sibling_dropped_examples": siblings_dropped[:12],
        "per_edit": per_edit,
        "base_records_per_s": round(len(base) / base_seconds),
    }


def short_answer_set(base: Sequence[Record], editor: Editor, size: int = 40) -> tuple[list[Record], list[Record]]:
    """Base pairs with a 20-60-word answer, and a copy of each with one word of the answer changed."""
    originals = [
        r
        for r in base
        if r.kind == "instruction" and 20 <= len(r.fields["response"].split()) <= 60 and r.id.startswith("qa:")
    ]
    originals = random.Random(1).sample(originals, min(size, len(originals)))
    copies = []
    for r in originals:
        answer_only = Record(r.kind, {**r.fields, "prompt": ""}, r.uri, r.location)
        edited = editor.substitute(answer_only, 0.0, "one-word", count=1)
        copies.append(Record(r.kind, {**edited.fields, "prompt": r.fields["prompt"]}, r.uri, r.location))
    return originals, copies


def evaluate_short(make: Callable[[], object], originals: list[Record], copies: list[Record]) -> str:
    found = 0
    for original, edited in zip(originals, copies, strict=True):
        result = make().filter([original, edited])
        found += len(result.kept) == 1
    return f"{found} of {len(originals)}"


def _token_sets(record: Record, sizes: Sequence[int]) -> dict[int, np.ndarray]:
    text = main_text(record)
    tokens = token_hashes(text)
    return {n: np.unique(shingle_hashes(text, n, tokens)) for n in sizes}


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    shared = len(np.intersect1d(a, b, assume_unique=True))
    return shared / (len(a) + len(b) - shared)


def curve(base: list[Record], copies: dict[str, list[Record]], negatives, sizes=(1, 2, 3, 4, 5)) -> dict[str, object]:
    """Exact Jaccard of token shingles for each size: recall per edit up to 10% and precision over
    the positive pairs (a record and its copy) and the negative ones (siblings, and each base
    record with its most similar other base record), with the name check, per threshold."""
    by_id = {r.id: r for r in base}
    sets = {r.id: _token_sets(r, sizes) for r in base}
    names = {r.id: new_dedupe.name_hashes(main_text(r)) for r in base}
    # The hardest distinct pairs: every base pair the working tree's LSH proposes at a low threshold.
    hasher = new_dedupe.MinHasher(128, 2)
    index = new_dedupe.NearDuplicateIndex(0.3, hasher, bands=64)
    signatures = hasher.signatures([main_text(r) for r in base])
    pairs = {frozenset((a, b)) for a, b, _ in negatives if a in by_id and b in by_id}
    for row, record in enumerate(base):
        for other in index.candidates(signatures[row]):
            if base[other].kind == record.kind:  # each kind is deduplicated on its own
                pairs.add(frozenset((record.id, base[other].id)))
        index.add(signatures[row], np.zeros(0, dtype=np.uint32), record.id)
    negative = [tuple(p) for p in pairs]
    thresholds = [round(t, 2) for t in np.arange(0.3, 0.95, 0.05)]
    table = {}
    for n in sizes:
        neg = np.array([_jaccard(sets[a][n], sets[b][n]) for a, b in negative])
        neg_same = np.array([new_dedupe.same_names(names[a], names[b]) for a, b in negative])
        pos: dict[str, np.ndarray] = {}
        for label, batch in copies.items():
            if label.endswith("20%"):
                continue
            values = []
            for r in batch:
                origin = r.id.rsplit("~", 1)[0]
                named = new_dedupe.same_names(names[origin], new_dedupe.name_hashes(main_text(r)))
                values.append(_jaccard(sets[origin][n], _token_sets(r, (n,))[n]) if named else 0.0)
            pos[label] = np.array(values)
        rows = []
        for t in thresholds:
            recall = {label: round(float(np.mean(v >= t)), 4) for label, v in pos.items()}
            true = sum(int(np.sum(v >= t)) for v in pos.values())
            false_plain = int(np.sum(neg >= t))
            false_named = int(np.sum((neg >= t) & neg_same))
            rows.append(
                {
                    "threshold": t,
                    "min_recall": min(recall.values()),
                    "recall": recall,
                    "negatives_over": false_plain,
                    "negatives_over_with_names": false_named,
                    "precision_with_names": round(true / (true + false_named), 4) if true + false_named else 1.0,
                }
            )
        table[f"{n}-token shingles"] = rows
    return {"negative_pairs": len(negative), "curves": table}


def s_curve() -> dict[str, dict[str, float]]:
    out = {}
    for bands in (12, 16, 21, 25, 32, 42, 64):
        rows = 128 // bands
        out[f"{bands}x{rows}"] = {
            f"{s:.2f}": round(new_dedupe.candidate_probability(s, bands, rows), 4) for s in (0.3, 0.4, 0.45, 0.5, 0.6)
        }
    return out


# ---------------------------------------------------------------------------- decontamination


def twin_set(base: Sequence[Record], editor: Editor, size: int = 500) -> tuple[list[Record], dict[str, int]]:
    """``size`` base pairs and a 5%-edited twin of each, shuffled; {main text: pair number}."""
    originals = [r for r in base if r.kind == "instruction" and r.id.startswith("qa:")][:size]
    records, group = [], {}
    for i, r in enumerate(originals):
        twin = editor.substitute(r, 0.05, "twin")
        for rec in (r, twin):
            records.append(rec)
            group[main_text(rec)] = i
    random.Random(2).shuffle(records)
    return records, {_key(t): g for t, g in group.items()}


def _key(text: str) -> str:
    """What identifies a text after the pipeline's normalization (which collapses spaces)."""
    return " ".join(text.split())


def twin_leakage(pipeline: ModuleType, records: list[Record], group: dict[str, int]) -> dict[str, object]:
    """Run the whole pipeline on the twin set; eval items whose twin (or original) is in train."""
    with tempfile.TemporaryDirectory() as out:
        config = pipeline.PrepConfig(eval_fraction=0.2, derive_pairs=False)
        report = pipeline.prepare_dataset([list(records)], config, Path(out))
        rows = {}
        for split in ("train", "eval"):
            rows[split] = [
                r
                for p in sorted((Path(out) / "prepared" / split).glob("*.parquet"))
                for r in pq.read_table(p).to_pylist()
            ]
    train_groups = {group.get(_key(f"{r['prompt']}\n{r['response']}")) for r in rows["train"]}
    evaluation = [group.get(_key(f"{r['prompt']}\n{r['response']}")) for r in rows["eval"]]
    unmatched = evaluation.count(None)
    leaked = sum(1 for g in evaluation if g is not None and g in train_groups)
    return {
        "records": len(records),
        "near_dropped": report.duplicates["near"]["instruction"],
        "train": len(rows["train"]),
        "eval": len(rows["eval"]),
        "contaminated_removed": report.split.contaminated,
        "eval_with_twin_in_train": leaked,
        "eval_not_matched_to_the_set": unmatched,
        "leakage": round(leaked / len(evaluation), 4) if evaluation else 0.0,
    }


def _repunctuated(prompt: str) -> str:
    """The same question with its quotes dropped, its commas turned to dashes and another ending."""
    text = re.sub(r"[`'\"]", "", prompt).replace(", ", " - ")
    return re.sub(r"[?.!:]+\s*$", "", text.strip()) + " ?!"


def decontamination_cases(
    base: Sequence[Record], negatives: Sequence[tuple[str, str, str]], editor: Editor, size: int = 500
) -> dict[str, list[tuple]]:
    """(eval record, train record) pairs per case. "unrelated" (another pair of the base set) and
    "sibling API" (the same question about a sibling API) are false alarms when flagged."""
    every = [r for r in base if r.kind == "instruction" and r.id.startswith("qa:")]
    pairs, spare = every[:size], every[size:]
    filler = [r for r in base if r.kind == "document"]
    rng = random.Random(3)
    labels = (
        "edit 5%",
        "edit 10%",
        "eval inside train",
        "train inside eval",
        "same prompt, other punctuation",
        "unrelated",
        "sibling API",
    )
    cases: dict[str, list[tuple[Record, Record]]] = {k: [] for k in labels}
    by_id = {r.id: r for r in base}
    for a, b, _ in negatives:
        if a.startswith("qa:") and a in by_id and b in by_id:
            cases["sibling API"].append((by_id[a], by_id[b]))
    for i, r in enumerate(pairs):
        other = spare[i % len(spare)]  # not among the eval items
        doc = filler[rng.randrange(len(filler))].fields["text"]
        cases["edit 5%"].append((r, editor.substitute(r, 0.05, "t5")))
        cases["edit 10%"].append((r, editor.substitute(r, 0.10, "t10")))
        longer = {
            **r.fields,
            "id": r.id + "~long",
            "prompt": f"{doc[:300]}\n\n{r.fields['prompt']}",
            "response": f"{r.fields['response']}\n\n{doc[300:700]}",
        }
        cases["eval inside train"].append((r, Record("instruction", longer, "bench", "long")))
        cases["train inside eval"].append((Record("instruction", longer, "bench", "long"), r))
        same = {**other.fields, "id": r.id + "~punct", "prompt": _repunctuated(r.fields["prompt"])}
        cases["same prompt, other punctuation"].append((r, Record("instruction", same, "bench", "punct")))
        cases["unrelated"].append((r, other))
    return cases


def decontamination_curve(cases: dict[str, list[tuple]], sizes=(5, 6, 8, 10, 13)) -> dict[str, object]:
    """Share of each case's pairs at or above each threshold of the overlap test (shared distinct
    n-grams over those of the shorter text), per n-gram size: the curve that chose the defaults."""
    out = {}
    for n in sizes:
        shares = {}
        for label, pairs in cases.items():
            values = []
            for e, t in pairs:
                a, b = (ngram_set(word_hashes(main_text(r)), n) for r in (e, t))
                smaller = min(len(a), len(b))
                values.append(len(np.intersect1d(a, b, assume_unique=True)) / smaller if smaller else 0.0)
            shares[label] = np.array(values)
        out[f"{n}-word n-grams"] = {
            f"{t:.1f}": {label: round(float(np.mean(v >= t)), 4) for label, v in shares.items()}
            for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
        }
    return out


def evaluate_decontamination(make: Callable[[], object], cases: dict[str, list[tuple]]) -> dict[str, float]:
    """Share of eval items flagged, per case; each case is one train set and one eval set."""
    out = {}
    for label, pairs in cases.items():
        decontaminator = make()
        evaluation = [e for e, _ in pairs]
        train = [t for _, t in pairs]
        # The two sides need distinct ids; the eval side keeps its own.
        train = [
            Record(t.kind, {**t.fields, "id": f"train:{t.id}:{i}"}, t.uri, t.location) for i, t in enumerate(train)
        ]
        decontaminator.add(train, ["train"] * len(train))
        decontaminator.add(evaluation, ["eval"] * len(evaluation))
        reasons = decontaminator.contaminated()
        out[label] = round(len(reasons) / len(evaluation), 4)
    return out


# ---------------------------------------------------------------------------- throughput


def throughput(pipeline: ModuleType, batches: list[list[Record]], repeat: int = 2) -> dict[str, float]:
    """Records/s of ``prepare_dataset`` on the built-in corpus (best of ``repeat`` runs)."""
    n = sum(map(len, batches))
    best = float("inf")
    report = None
    for _ in range(repeat):
        fresh = [[Record(r.kind, dict(r.fields), r.uri, r.location) for r in b] for b in batches]
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            report = pipeline.prepare_dataset(fresh, pipeline.PrepConfig(), Path(out))
            best = min(best, time.perf_counter() - started)
    steps = {s.name: s.seconds for s in report.steps}
    return {
        "records": n,
        "seconds": round(best, 2),
        "records_per_s": round(n / best),
        "train": report.split.train,
        "eval": report.split.eval,
        "contaminated": report.split.contaminated,
        "near_duplicates": sum(report.duplicates["near"].values()),
        "dedupe_seconds": round(steps.get("dedupe", 0.0), 2),
        "decontaminate_seconds": round(steps.get("decontaminate", 0.0), 2),
    }


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4_000, help="records of the built-in corpus for records/s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pa.array(["warm-up"])
    tmp = tempfile.TemporaryDirectory()
    head = load_head_modules(Path(tmp.name))

    base, negatives = load_base()
    editor = Editor(base, args.seed)
    copies = copies_of(base, editor)
    print(f"base set: {len(base):,} records, {len(negatives)} sibling pairs; {len(copies)} edit kinds", flush=True)

    config = new_pipeline.PrepConfig()
    implementations = {
        "head": (
            lambda: head["dedupe"].Deduplicator("near"),
            lambda: head["split"].Decontaminator(),
            head["pipeline"],
        ),
        "new": (
            lambda: new_dedupe.Deduplicator(
                "near",
                threshold=config.near_duplicate_threshold,
                num_perm=config.num_perm,
                shingle_tokens=config.shingle_tokens,
                bands=config.lsh_bands,
            ),
            lambda: new_split.Decontaminator(config.contamination_threshold, config.contamination_ngram_words),
            new_pipeline,
        ),
    }
    originals, short_copies = short_answer_set(base, editor)
    twins, group = twin_set(base, Editor(base, args.seed + 1))
    cases = decontamination_cases(base, negatives, Editor(base, args.seed + 2))
    corpus = [
        [r for r in b if isinstance(r, Record)]
        for b in read_batches(["builtin:python-docs"], SourceConfig(batch_size=1_000, limit=args.docs))
    ]

    results: dict[str, dict[str, object]] = {}
    for name, (make_dedupe, make_decontaminator, pipeline) in implementations.items():
        print(f"{name}: near dedupe", flush=True)
        results[name] = {"dedupe": evaluate_dedupe(make_dedupe, base, copies, negatives)}
        results[name]["one_word_in_short_answer"] = evaluate_short(make_dedupe, originals, short_copies)
        print(f"{name}: decontamination", flush=True)
        results[name]["decontamination"] = evaluate_decontamination(make_decontaminator, cases)
        results[name]["twin_set"] = twin_leakage(pipeline, twins, group)
        print(f"{name}: records/s", flush=True)
        results[name]["throughput"] = throughput(pipeline, corpus)
    print("curves", flush=True)
    measured_curve = curve(base, copies, negatives)
    contamination_curve = decontamination_curve(cases)

    old, new = results["head"], results["new"]
    print("\nnear dedupe, recall by edit (before issue 12 -> now); precision of a run of the base set and those copies")
    print(f"{'edit':<16}{'recall before':>14}{'recall new':>12}{'prec. before':>13}{'prec. new':>12}")
    for label in new["dedupe"]["per_edit"]:
        a, b = old["dedupe"]["per_edit"][label], new["dedupe"]["per_edit"][label]
        print(f"{label:<16}{a['recall']:>12.3f}{b['recall']:>12.3f}{a['precision']:>12.3f}{b['precision']:>12.3f}")
    for name, r in (("before", old), ("new", new)):
        d = r["dedupe"]
        print(
            f"{name}: base records dropped as copies of other base records {d['base_records_dropped']} of "
            f"{d['base_records']}; sibling pairs dropped {d['sibling_pairs_dropped']} of {d['sibling_pairs']}; "
            f"one word changed in a 20-60-word answer: {r['one_word_in_short_answer']} found"
        )
        for example in d["sibling_dropped_examples"][:6]:
            print(f"    {example['dropped']} dropped as a copy of {example['as_copy_of']} ({example['why_similar']})")
    print("\ndecontamination, share of eval items flagged (before -> new); 'unrelated' is false alarms")
    for label in new["decontamination"]:
        print(f"    {label:<34}{old['decontamination'][label]:>8.3f}{new['decontamination'][label]:>8.3f}")
    for name, r in (("before", old), ("new", new)):
        t = r["twin_set"]
        print(
            f"twin set, {name}: {t['eval_with_twin_in_train']} of {t['eval']} eval items ({t['leakage']:.1%}) still "
            f"have their twin in train; near duplicates dropped {t['near_dropped']}, contaminated removed "
            f"{t['contaminated_removed']}"
        )
    for name, r in (("before", old), ("new", new)):
        t = r["throughput"]
        print(
            f"whole preparation, {name}: {t['records']:,} built-in records in {t['seconds']:.2f} s = "
            f"{t['records_per_s']:,} records/s (dedupe {t['dedupe_seconds']} s, decontaminate "
            f"{t['decontaminate_seconds']} s)"
        )
    print(
        "\ncurve: exact Jaccard of token shingles, with the name check "
        f"({measured_curve['negative_pairs']} negative pairs)"
    )
    for size, rows in measured_curve["curves"].items():
        print(f"  {size}")
        for row in rows:
            print(
                f"    t={row['threshold']:.2f}  min recall (edits <= 10%) {row['min_recall']:.3f}  "
                f"negatives over t {row['negatives_over']:>4} (with names {row['negatives_over_with_names']:>3})  "
                f"precision {row['precision_with_names']:.4f}"
            )
    print("decontamination curve: share of each case at or above the threshold, per n-gram size")
    for size, rows in contamination_curve.items():
        print(f"  {size}")
        for t, row in rows.items():
            print(f"    t={t}  " + "  ".join(f"{k}: {v:.3f}" for k, v in row.items()))
    bands = s_curve()
    print("LSH S-curve, chance that a pair of this similarity is a candidate:")
    for name, row in bands.items():
        print(f"    {name:<6} " + "  ".join(f"s={s}: {p:.3f}" for s, p in row.items()))

    up_to_10 = [v for k, v in new["dedupe"]["per_edit"].items() if not k.endswith("20%")]
    checks = {
        "near_dup_recall_up_to_10pct": min(v["recall"] for v in up_to_10) >= GOALS["near_dup_recall_up_to_10pct"],
        "near_dup_precision": min(v["precision"] for v in up_to_10) >= GOALS["near_dup_precision"],
        "twin_leakage_below": new["twin_set"]["leakage"] < GOALS["twin_leakage_below"],
    }
    print("goals: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in checks.items()))
    result = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "defaults": {
            "shingle_tokens": config.shingle_tokens,
            "near_duplicate_threshold": config.near_duplicate_threshold,
            "lsh_bands": config.lsh_bands,
            "num_perm": config.num_perm,
            "contamination_threshold": config.contamination_threshold,
            "contamination_ngram_words": config.contamination_ngram_words,
        },
        "head": old,
        "new": new,
        "curve": measured_curve,
        "decontamination_curve": contamination_curve,
        "lsh_s_curve": bands,
        "goals": GOALS,
        "goals_met": checks,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.out}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
