"""Redaction on an independent, hand-written set: recall and precision by type, benign strings kept, speed.

Side by side in one run, on ``tests/data/redaction/eval.jsonl`` (written by hand, not by
``tests.synthetic``; see the README beside it):

- ``baseline``: ``tasks/prepare/redact.py`` as it was at ``BASELINE_COMMIT`` (before issue 12), read
  with ``git show`` into a temporary module, so no copy of it lives in the tree;
- ``current``: ``tasks/prepare/redact.py`` of the working tree;
- the well-kept libraries, where installed: ``detect-secrets`` (its plugins, line by line) for
  secrets, Presidio's pattern recognizers (no spaCy model: its NER needs one, and none is on the
  package index under its official name) and ``scrubadub``'s default detectors for personal data.

Scoring works on character spans. For the redact modules the spans are recovered from the output:
every placeholder is mapped to one private-use character and the output aligned with the input
(``difflib``), so the characters a placeholder replaced are known. A planted value counts as found
when every one of its non-space characters lies in a replaced span (of any type; the share found by
a span of its own type is reported as ``typed``). A replaced span counts as correct (precision) when
it overlaps a planted value. A benign string counts as changed when a replaced span overlaps it.

Speed: records/s over the evaluation set (repeated to at least a second), and over the built-in
Python documentation corpus (mostly clean prose and code, the project's default input), where every
replacement is shown as a likely false positive.

    python benchmarks/bench_redact.py [--out results.json] [--libs DIR] [--docs-records 4000]

``--libs DIR`` appends a folder to ``sys.path`` (after the project's packages), for libraries
installed there with ``pip install --target DIR`` so that measuring them never changes the venv.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import ISSUE_12_BASELINE  # noqa: E402 - after the path is set
from tasks.prepare.redact import REDACTION_TYPES  # noqa: E402

EVAL_SET = ROOT / "tests" / "data" / "redaction" / "eval.jsonl"
BASELINE_COMMIT = ISSUE_12_BASELINE
TYPES = REDACTION_TYPES
GOALS = {"recall": 0.95, "benign_changed": 0}

Span = tuple[int, int, str]  # start, end, type
Detector = Callable[[str], list[Span]]


# ---------------------------------------------------------------- the evaluation set


@dataclass(frozen=True)
class Planted:
    start: int
    end: int
    type: str
    value: str


@dataclass(frozen=True)
class Case:
    line: int
    context: str
    text: str
    planted: tuple[Planted, ...]
    benign: tuple[tuple[int, int, str], ...]


def _locate(text: str, value: str, taken: set[int], line: int) -> int:
    """The first occurrence of ``value`` in ``text`` not already used by an earlier entry."""
    at = text.find(value)
    while at in taken:
        at = text.find(value, at + 1)
    if at < 0:
        raise ValueError(f"{EVAL_SET.name} line {line}: {value!r} is not in the text (or listed too often)")
    taken.add(at)
    return at


def load_cases(path: Path = EVAL_SET) -> list[Case]:
    """The evaluation set, each planted value and benign string located in its text."""
    cases = []
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        item = json.loads(raw)
        text = item["text"]
        taken: set[int] = set()
        planted = []
        for p in item["planted"]:
            if p["type"] not in TYPES:
                raise ValueError(f"{path.name} line {line}: unknown type {p['type']!r}")
            at = _locate(text, p["value"], taken, line)
            planted.append(Planted(at, at + len(p["value"]), p["type"], p["value"]))
        benign_taken: set[int] = set()
        benign = []
        for b in item["benign"]:
            at = _locate(text, b, benign_taken, line)
            benign.append((at, at + len(b), b))
        cases.append(Case(line, item["context"], text, tuple(planted), tuple(benign)))
    return cases


# ---------------------------------------------------------------- spans from a redactor's output

_PLACEHOLDER = re.compile(r"<(" + "|".join(TYPES) + r")>")
_PRIVATE_USE = 0xE000  # one private-use character per type: never in the input, never aligned with it


def spans_from_output(original: str, redacted: str) -> list[Span]:
    """The spans of ``original`` that placeholders replaced in ``redacted``.

    The text between placeholders is kept verbatim, so ``original`` is those pieces with one
    non-empty span in place of each placeholder: a regular expression of the pieces, anchored at
    both ends, finds the spans (the shortest that fit, left to right). When the output is not of
    that form (the redactor changed something else), the two texts are aligned with ``difflib``,
    every placeholder mapped to one private-use character that cannot align with the input."""
    if redacted == original:
        return []
    pieces = _PLACEHOLDER.split(redacted)
    literals, kinds = pieces[0::2], pieces[1::2]
    if len(kinds) <= 64:
        parts = []
        for i, literal in enumerate(literals):
            parts.append(re.escape(literal))
            if i < len(kinds):
                parts.append("(.+?)")
        m = re.fullmatch("".join(parts), original, re.S)
        if m is not None:
            return [(m.start(i + 1), m.end(i + 1), kind) for i, kind in enumerate(kinds)]
    marks: dict[str, str] = {}

    def mark(m: re.Match[str]) -> str:
        char = chr(_PRIVATE_USE + TYPES.index(m.group(1)))
        marks[char] = m.group(1)
        return char

    coded = _PLACEHOLDER.sub(mark, redacted)
    spans: list[Span] = []
    matcher = difflib.SequenceMatcher(None, original, coded, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        found = [marks[c] for c in coded[b0:b1] if c in marks]
        if a1 > a0:
            for kind in found or ["?"]:  # "?": changed without a placeholder
                spans.append((a0, a1, kind))
    return spans


def module_detector(module: ModuleType) -> Detector:
    return lambda text: spans_from_output(text, module.redact_text(text)[0])


def load_baseline() -> ModuleType | None:
    """``tasks/prepare/redact.py`` at ``BASELINE_COMMIT``, as a module of its own (``None`` outside git)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:tasks/prepare/redact.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"baseline not available ({exc}); only the current implementation is measured", file=sys.stderr)
        return None
    folder = Path(tempfile.mkdtemp(prefix="redact-baseline-"))
    path = folder / "redact_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("redact_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["redact_baseline"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- the libraries

# Library entity names mapped to the project's types (what they would be replaced by).
_PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP",
    "US_SSN": "NATIONAL_ID",
    "UK_NINO": "NATIONAL_ID",
}
_SCRUBADUB_TYPES = {
    "email": "EMAIL",
    "phone": "PHONE",
    "credit_card": "CARD",
    "credential": "CREDENTIAL",
    "social_security_number": "NATIONAL_ID",
    "url": "CREDENTIAL",
    "twitter": "EMAIL",
    "drivers_licence": "NATIONAL_ID",
    "national_insurance_number": "NATIONAL_ID",
    "tax_reference_number": "NATIONAL_ID",
    "vehicle_licence_plate": "NATIONAL_ID",
    "postalcode": "PHONE",
}
_DETECT_SECRETS_TYPES = {
    "AWS Access Key": "API_KEY",
    "Private Key": "PRIVATE_KEY",
    "JSON Web Token": "TOKEN",
    "Basic Auth Credentials": "CREDENTIAL",
    "Secret Keyword": "CREDENTIAL",
}


def presidio_detector(threshold: float) -> tuple[Detector | None, str]:
    """Presidio's ``AnalyzerEngine`` on a blank spaCy pipeline: its recognizers and context words,
    no NER (no spaCy model is on the package index under its official name; none of the
    project's types needs one). ``threshold`` is its ``score_threshold`` (0 by default)."""
    try:
        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
    except ImportError as exc:
        return None, f"not installed ({exc})"
    folder = Path(tempfile.mkdtemp(prefix="presidio-blank-")) / "en_blank"
    spacy.blank("en").to_disk(folder)
    engine = AnalyzerEngine(
        nlp_engine=SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(folder)}]),
        supported_languages=["en"],
    )
    entities = sorted(set(_PRESIDIO_TYPES) & set(engine.get_supported_entities()))

    def detect(text: str) -> list[Span]:
        results = engine.analyze(text, language="en", entities=entities, score_threshold=threshold)
        return [(r.start, r.end, _PRESIDIO_TYPES[r.entity_type]) for r in results]

    return detect, f"presidio-analyzer {_version('presidio-analyzer')}, score >= {threshold}, {', '.join(entities)}"


def scrubadub_detector() -> tuple[Detector | None, str]:
    """scrubadub's default detectors, less ``url`` and ``twitter`` (types the project does not redact)."""
    try:
        import scrubadub
    except ImportError as exc:
        return None, f"not installed ({exc})"
    scrubber = scrubadub.Scrubber()
    for name in ("url", "twitter"):
        if name in scrubber._detectors:
            scrubber.remove_detector(name)

    def detect(text: str) -> list[Span]:
        return [(f.beg, f.end, _SCRUBADUB_TYPES.get(f.type, f.type.upper())) for f in scrubber.iter_filth(text)]

    return detect, f"scrubadub {scrubadub.__version__}, detectors {', '.join(sorted(scrubber._detectors))}"


def detect_secrets_detector() -> tuple[Detector | None, str]:
    """Every detect-secrets plugin with its default settings and filters, as a file scan runs them
    line by line (``_process_line_based_plugins``: the adhoc ``scan_line`` searches eagerly and
    flags any word of high entropy)."""
    try:
        from detect_secrets.core.scan import _process_line_based_plugins
        from detect_secrets.settings import default_settings
    except ImportError as exc:
        return None, f"not installed ({exc})"

    def detect(text: str) -> list[Span]:
        lines = text.split("\n")
        starts = [0]
        for line in lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        spans = []
        with default_settings():
            for secret in _process_line_based_plugins(list(enumerate(lines, 1)), filename="snippet.txt"):
                line = lines[secret.line_number - 1]
                value = secret.secret_value or ""
                at = line.find(value) if value else -1
                if at >= 0:
                    start = starts[secret.line_number - 1] + at
                    spans.append((start, start + len(value), _DETECT_SECRETS_TYPES.get(secret.type, "API_KEY")))
        return spans

    return detect, f"detect-secrets {_version('detect-secrets')}, all plugins"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def combined(*detectors: Detector) -> Detector:
    return lambda text: [span for d in detectors for span in d(text)]


# ---------------------------------------------------------------- scoring


def _covered(p: Planted, spans: list[Span], text: str) -> tuple[bool, bool]:
    """Whether every non-space character of the value is replaced; and by spans of its own type."""
    need = [i for i in range(p.start, p.end) if not text[i].isspace()]
    anyone = all(any(s <= i < e for s, e, _ in spans) for i in need)
    typed = all(any(s <= i < e and k == p.type for s, e, k in spans) for i in need)
    return anyone, typed


def score(detect: Detector, cases: list[Case]) -> dict[str, object]:
    """Recall and precision by type, benign strings changed, and examples of each kind of error."""
    planted: Counter[str] = Counter()
    found: Counter[str] = Counter()
    typed: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    misses: list[str] = []
    false_positives: list[str] = []
    benign_changed: list[str] = []
    benign_total = 0
    for case in cases:
        spans = detect(case.text)
        for p in case.planted:
            planted[p.type] += 1
            anyone, own = _covered(p, spans, case.text)
            found[p.type] += anyone
            typed[p.type] += own
            if not anyone:
                misses.append(f"line {case.line} {p.type}: {p.value!r}")
        for s, e, kind in spans:
            predicted[kind] += 1
            if any(s < p.end and p.start < e for p in case.planted):
                correct[kind] += 1
            else:
                false_positives.append(f"line {case.line} {kind}: {case.text[s:e]!r}")
        for s, e, value in case.benign:
            benign_total += 1
            if any(a < e and s < b for a, b, _ in spans):
                benign_changed.append(f"line {case.line}: {value!r}")
    by_type = {
        t: {
            "planted": planted[t],
            "recall": round(found[t] / planted[t], 4) if planted[t] else None,
            "typed": round(typed[t] / planted[t], 4) if planted[t] else None,
            "replaced": predicted[t],
            "precision": round(correct[t] / predicted[t], 4) if predicted[t] else None,
        }
        for t in TYPES
    }
    total_predicted = sum(predicted.values())
    return {
        "planted": planted.total(),
        "found": found.total(),
        "recall": round(found.total() / planted.total(), 4),
        "typed_recall": round(typed.total() / planted.total(), 4),
        "replaced": total_predicted,
        "precision": round(correct.total() / total_predicted, 4) if total_predicted else None,
        "benign": benign_total,
        "benign_changed": len(benign_changed),
        "by_type": by_type,
        "misses": misses,
        "false_positives": false_positives,
        "benign_changed_examples": benign_changed,
    }


def records_per_s(detect: Detector, texts: list[str], min_seconds: float = 1.0) -> float:
    """Texts per second, repeating the list until ``min_seconds`` have passed."""
    done, started = 0, time.perf_counter()
    while True:
        for text in texts:
            detect(text)
        done += len(texts)
        seconds = time.perf_counter() - started
        if seconds >= min_seconds:
            return round(done / seconds, 1)


def docs_texts(limit: int) -> list[str]:
    """The free-text fields of the first ``limit`` records of the built-in Python docs corpus."""
    from tasks.ingest.records import TEXT_FIELDS, Record
    from tasks.ingest.sources.python_docs import read_python_docs

    texts = []
    for item in read_python_docs():
        if isinstance(item, Record):
            texts.append("\n".join(item.fields[name] for name in TEXT_FIELDS[item.kind]))
            if len(texts) >= limit:
                break
    return texts


def on_docs(detect: Detector, texts: list[str]) -> dict[str, object]:
    """Speed and replacements on documentation that holds no planted data."""
    counts: Counter[str] = Counter()
    examples: list[str] = []
    started = time.perf_counter()
    for text in texts:
        for s, e, kind in detect(text):
            counts[kind] += 1
            if len(examples) < 8:
                examples.append(f"{kind}: {' '.join(text[max(0, s - 25) : e + 10].split())}")
    seconds = time.perf_counter() - started
    return {
        "records": len(texts),
        "records_per_s": round(len(texts) / seconds, 1),
        "replaced": dict(sorted(counts.items())),
        "examples": examples,
    }


# ---------------------------------------------------------------- main


def _fmt(value: float | None) -> str:
    return "   -" if value is None else f"{value:.3f}"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--libs", type=Path, help="a folder of libraries installed with pip --target")
    parser.add_argument("--docs-records", type=int, default=4000, help="records of the Python docs corpus")
    parser.add_argument("--library-docs-records", type=int, default=500, help="the same, for the (slower) libraries")
    parser.add_argument("--show", type=int, default=12, help="misses and false positives shown per system")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.libs:
        sys.path.append(str(args.libs.resolve()))

    from tasks.prepare import redact as current

    cases = load_cases()
    systems: dict[str, Detector] = {}
    versions: dict[str, str] = {}
    baseline = load_baseline()
    if baseline is not None:
        systems["baseline"] = module_detector(baseline)
        versions["baseline"] = f"tasks/prepare/redact.py at {BASELINE_COMMIT[:10]}"
    systems["current"] = module_detector(current)
    versions["current"] = "tasks/prepare/redact.py (working tree)"
    not_measured: dict[str, str] = {}
    libraries = {}
    for name, make in (
        ("detect-secrets", detect_secrets_detector),
        ("presidio", lambda: presidio_detector(0.0)),
        ("presidio@0.4", lambda: presidio_detector(0.4)),
        ("scrubadub", scrubadub_detector),
    ):
        detector, version = make()
        if detector is None:
            not_measured[name] = version
        else:
            systems[name] = libraries[name] = detector
            versions[name] = version
    if "detect-secrets" in libraries and "presidio@0.4" in libraries:
        systems["secrets+presidio"] = combined(libraries["detect-secrets"], libraries["presidio@0.4"])
        versions["secrets+presidio"] = "detect-secrets and presidio@0.4, spans united"

    texts = [c.text for c in cases]
    docs = docs_texts(args.docs_records) if args.docs_records else []
    results: dict[str, dict[str, object]] = {}
    for name, detect in systems.items():
        print(f"scoring {name} ...", flush=True)
        result = score(detect, cases)
        result["records_per_s"] = records_per_s(detect, texts)
        own = name in ("baseline", "current")
        result["docs"] = on_docs(detect, docs if own else docs[: args.library_docs_records]) if docs else None
        result["version"] = versions[name]
        results[name] = result

    n_benign = results["current"]["benign"]
    print(
        f"\n{len(cases)} records, {results['current']['planted']} planted values, {n_benign} benign strings "
        f"({EVAL_SET.relative_to(ROOT)}); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    names = list(results)
    width = max(14, *(len(n) + 1 for n in names))
    print("\nrecall / precision by type (recall: share of planted values fully replaced; precision: share of")
    print("replacements that hit a planted value; '-': nothing planted or nothing replaced)")
    print(f"{'type':<13}{'n':>4}  " + "".join(f"{n:>{width}}" for n in names))
    for t in TYPES:
        cells = []
        for n in names:
            row = results[n]["by_type"][t]
            cells.append(f"{_fmt(row['recall'])}/{_fmt(row['precision'])}".rjust(width))
        print(f"{t:<13}{results['current']['by_type'][t]['planted']:>4}  " + "".join(cells))
    for label, key, fmt in (
        ("recall", "recall", "{:.3f}"),
        ("typed recall", "typed_recall", "{:.3f}"),
        ("precision", "precision", "{:.3f}"),
        ("benign changed", "benign_changed", "{}"),
        ("records/s", "records_per_s", "{:,.0f}"),
    ):
        cells = "".join(
            (fmt.format(results[n][key]) if results[n][key] is not None else "-").rjust(width) for n in names
        )
        print(f"{label:<19}" + cells)
    if docs:
        print("\nPython docs corpus (no planted data: every replacement is suspect)")
        for n in names:
            d = results[n]["docs"]
            print(
                f"  {n:<{width}} {d['records']:>6,} records {d['records_per_s']:>9,.0f} records/s"
                f"  replaced {d['replaced'] or 'nothing'}"
            )
    for n in names:
        r = results[n]
        print(f"\n{n} ({r['version']}): {len(r['misses'])} missed, {len(r['false_positives'])} false positives")
        for line in r["misses"][: args.show]:
            print(f"    missed   {line}")
        for line in r["false_positives"][: args.show]:
            print(f"    replaced {line}")
        for line in r["benign_changed_examples"][: args.show]:
            print(f"    benign   {line}")
    for name, why in not_measured.items():
        print(f"\nnot measured: {name}: {why}")
    current_result = results["current"]
    goals_met = {
        "recall": current_result["recall"] >= GOALS["recall"],
        "benign_changed": current_result["benign_changed"] <= GOALS["benign_changed"],
    }
    print("\ngoals (current): " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in goals_met.items()))
    if args.out:
        out = {
            "eval_set": str(EVAL_SET.relative_to(ROOT)),
            "records": len(cases),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0],
            "systems": results,
            "not_measured": not_measured,
            "goals": GOALS,
            "goals_met": goals_met,
        }
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
