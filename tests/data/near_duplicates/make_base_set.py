"""Writes base.jsonl and siblings.jsonl, the near-duplicate evaluation set taken from real text.

    python tests/data/near_duplicates/make_base_set.py

The text is the built-in corpus (``builtin:python-docs``: the standard library's docstrings and the
language reference of the interpreter that runs this) and the question/answer pairs the prepare
stage derives from it; nothing comes from ``tests/synthetic.py``. The files are kept in the
repository, so the benchmark and the tests read the same text whatever the Python version.

- base.jsonl: distinct records, one a line: member documentation (signature line and docstring)
  of a deterministic sample of the standard library, with every sibling below, and the derived
  pairs of those documents. No two rows have the same text.
- siblings.jsonl: pairs of base ids that are different records a reader could mistake for copies:
  functions documented in nearly the same words (json.dump and json.dumps, parse_qs and parse_qsl,
  and the pairs of one module whose docstrings share at least half of their words), and the pairs
  derived from both by the same rule.

handwritten.jsonl (written by hand, not by this script) adds operator flips and Chinese and
Japanese records.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from itertools import combinations
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tasks.ingest.records import Record  # noqa: E402
from tasks.ingest.sources.python_docs import read_python_docs  # noqa: E402
from tasks.prepare.pairs import derive_pairs  # noqa: E402

# Sibling APIs named in the issue that reported the dedupe faults, and a few more of the same kind.
NAMED_SIBLINGS = [
    ("json.dump", "json.dumps"),
    ("json.load", "json.loads"),
    ("urllib.parse.parse_qs", "urllib.parse.parse_qsl"),
    ("urllib.parse.quote", "urllib.parse.quote_plus"),
    ("urllib.parse.unquote", "urllib.parse.unquote_plus"),
    ("urllib.parse.urlsplit", "urllib.parse.urlparse"),
    ("base64.b64encode", "base64.urlsafe_b64encode"),
    ("shutil.copy", "shutil.copy2"),
    ("pickle.dump", "pickle.dumps"),
    ("heapq.nlargest", "heapq.nsmallest"),
]
SAMPLE_DOCUMENTS = 420  # besides the siblings
MINED_SIBLINGS = 60
MAX_PAIRS = 700
_WORDS = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.lower()))


def _rank(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def main() -> None:
    named_members = {n for pair in NAMED_SIBLINGS for n in pair}
    members: dict[str, Record] = {}
    for item in read_python_docs():
        if isinstance(item, Record) and item.kind == "document":
            meta = json.loads(item.fields["meta"])
            name, size = meta.get("qualname"), len(item.fields["text"])
            if name and (200 <= size <= 1_500 or (name in named_members and size <= 4_000)):
                members.setdefault(name, item)

    named = [(a, b) for a, b in NAMED_SIBLINGS if a in members and b in members]
    by_module: dict[str, list[str]] = {}
    for name in members:
        by_module.setdefault(name.rsplit(".", 1)[0], []).append(name)
    mined = []
    for names in by_module.values():
        bodies = {n: _words(members[n].fields["text"].split("\n", 1)[-1]) for n in names[:300]}
        for a, b in combinations(bodies, 2):
            union = bodies[a] | bodies[b]
            share = len(bodies[a] & bodies[b]) / len(union) if union else 0.0
            if share >= 0.5 and members[a].fields["text"] != members[b].fields["text"]:
                mined.append((round(share, 3), a, b))
    mined.sort(key=lambda t: (-t[0], _rank(t[1] + t[2])))
    pairs_of_names = list(named)
    for _, a, b in mined:
        if len(pairs_of_names) >= len(named) + MINED_SIBLINGS:
            break
        if (a, b) not in pairs_of_names:
            pairs_of_names.append((a, b))

    sibling_names = {n for pair in pairs_of_names for n in pair}
    chosen = set(sibling_names)
    for name in sorted(members, key=_rank):
        if len(chosen) >= len(sibling_names) + SAMPLE_DOCUMENTS:
            break
        chosen.add(name)

    rows: list[dict[str, str]] = []
    seen_texts: set[str] = set()
    derived: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    for name in sorted(chosen, key=_rank):
        record = members[name]
        title, text = record.fields["title"], record.fields["text"]
        if text in seen_texts:
            continue
        seen_texts.add(text)
        doc_id = f"doc:{name}"
        rows.append({"id": doc_id, "kind": "document", "origin": "python-docs", "title": title, "text": text})
        # Answers of up to 400 characters, not the pipeline's default 240: more of them are the
        # 20-60-word answers of the one-word-edit set.
        for pair in derive_pairs(title, text, max_pairs=3, answer_chars=400):
            key = f"{pair.prompt}\n{pair.response}"
            if key in seen_texts:
                continue
            seen_texts.add(key)
            pair_id = f"qa:{name}:{pair.rule.replace(' ', '-')}:{len(derived.get(name, []))}"
            derived.setdefault(name, []).append(
                (pair.rule, pair_id, {"prompt": pair.prompt, "response": pair.response})
            )

    pair_rows = []
    for name, items in derived.items():
        for rule, pair_id, fields in items:
            # Siblings first, then the 20-60-word answers, then a sample of the rest.
            long_answer = 20 <= len(fields["response"].split()) <= 60
            pair_rows.append((name not in sibling_names, not long_answer, _rank(pair_id), pair_id, rule, fields))
    pair_rows.sort()
    for *_, pair_id, rule, fields in pair_rows[:MAX_PAIRS]:
        rows.append({"id": pair_id, "kind": "instruction", "origin": f"python-docs derived ({rule})", **fields})
    ids = {r["id"] for r in rows}

    siblings = []
    for a, b in pairs_of_names:
        why = "named sibling API" if (a, b) in named else "same module, docstrings share half their words"
        if f"doc:{a}" in ids and f"doc:{b}" in ids:
            siblings.append({"a": f"doc:{a}", "b": f"doc:{b}", "why": why})
        rules_b = {rule: pid for rule, pid, _ in derived.get(b, [])}
        for rule, pid, _ in derived.get(a, []):
            if rule in rules_b and pid in ids and rules_b[rule] in ids:
                siblings.append({"a": pid, "b": rules_b[rule], "why": f"{why}, pairs derived by the same rule"})

    with (HERE / "base.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    with (HERE / "siblings.jsonl").open("w", encoding="utf-8") as out:
        for row in siblings:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    documents = sum(r["kind"] == "document" for r in rows)
    print(f"{documents} documents, {len(rows) - documents} pairs, {len(siblings)} sibling pairs")


if __name__ == "__main__":
    main()
