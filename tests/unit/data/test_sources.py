"""Source adapters: every format, folders, URLs, saved datasets, and each kind of bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.ingest.sources import (
    SourceConfig,
    build_manifest,
    read_batches,
    read_source,
    read_sources,
)
from tasks.prepare.validate import validate_batch

from .conftest import PAIR, split_items, write_jsonl


def _read(uri: str | Path, **config: object) -> tuple[list, list]:
    return split_items(list(read_source(uri, SourceConfig(**config))))


# ---------------------------------------------------------------- formats


def test_jsonl_records_carry_kind_uri_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{**PAIR, "id": "p1"}, {"title": "T", "text": "Body text.", "id": "d1"}])
    records, issues = _read(path)
    assert issues == []
    assert [(r.kind, r.id, r.uri, r.location) for r in records] == [
        ("instruction", "p1", str(path), "line 1"),
        ("document", "d1", str(path), "line 2"),
    ]
    assert records[0].fields == {**PAIR, "id": "p1"}


def test_json_array_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{**PAIR, "id": "p1"}, {"text": "A document.", "id": "d1"}]), encoding="utf-8")
    records, issues = _read(path)
    assert [(r.kind, r.id, r.location) for r in records] == [
        ("instruction", "p1", "record 1"),
        ("document", "d1", "record 2"),
    ]
    assert issues == []


def test_csv_rows_with_empty_cells_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        'id,prompt,response,meta\np1,"Q, with comma",An answer.,\np2,Q2,"multi\nline",{}\n', encoding="utf-8"
    )
    records, issues = _read(path)
    assert issues == []
    assert [(r.id, r.location) for r in records] == [("p1", "line 2"), ("p2", "line 4")]
    assert records[0].fields == {"id": "p1", "prompt": "Q, with comma", "response": "An answer.", "meta": None}
    assert records[1].fields["response"] == "multi\nline"


def test_parquet_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["p1", "p2"], "prompt": ["Q1", "Q2"], "response": ["A1", "A2"]}), path)
    records, issues = _read(path)
    assert issues == []
    assert [(r.kind, r.id, r.location, r.fields["response"]) for r in records] == [
        ("instruction", "p1", "row 1", "A1"),
        ("instruction", "p2", "row 2", "A2"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "title"),
    [
        ("notes.txt", "Plain text\nover lines.", "notes"),
        ("guide.md", "Intro line\n\n# The Guide\n\nBody.", "The Guide"),
        ("plain.md", "No heading here.", "plain"),
    ],
)
def test_text_and_markdown_files_are_one_document_each(tmp_path: Path, name: str, content: str, title: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    records, issues = _read(path)
    assert issues == []
    # the id is the content's (tests/unit/data/test_ids.py), the rest is what the file holds
    assert [(r.kind, r.location, {k: v for k, v in r.fields.items() if k != "id"}) for r in records] == [
        ("document", "file", {"title": title, "text": content})
    ]
    assert len(records[0].id) == 20


def test_folder_is_read_recursively_in_sorted_order_skipping_hidden(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    write_jsonl(tmp_path / "b" / "z.jsonl", [{**PAIR, "id": "b-z"}])
    write_jsonl(tmp_path / "b" / "a.jsonl", [{**PAIR, "id": "b-a"}])
    write_jsonl(tmp_path / "a.jsonl", [{**PAIR, "id": "a"}])
    write_jsonl(tmp_path / ".git" / "x.jsonl", [{**PAIR, "id": "hidden"}])
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "c.txt").write_text("A text document.", encoding="utf-8")
    records, issues = _read(tmp_path)
    assert issues == []
    # c.txt has no id of its own: it gets a content id, so it is named by its title here
    assert [r.fields.get("title", r.id) for r in records] == ["a", "b-a", "b-z", "c"]


def test_saved_hugging_face_dataset_by_prefix_and_inside_a_folder(tmp_path: Path) -> None:
    import datasets

    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"id": ["h1", "h2"], "prompt": ["Q1", "Q2"], "response": ["A1", "A2"]}),
            "test": datasets.Dataset.from_dict({"id": ["h3"], "text": ["A document."]}),
        }
    )
    splits.save_to_disk(str(tmp_path / "data" / "hf"))
    records, issues = _read(f"hf:{tmp_path / 'data' / 'hf'}")
    assert issues == []
    assert sorted((r.kind, r.id, r.location) for r in records) == [
        ("document", "h3", "split test, row 1"),
        ("instruction", "h1", "split train, row 1"),
        ("instruction", "h2", "split train, row 2"),
    ]
    from_folder, issues = _read(tmp_path / "data")  # found by its marker files, not read as loose files
    assert issues == [] and sorted(r.id for r in from_folder) == ["h1", "h2", "h3"]


def test_not_a_saved_dataset_is_an_issue(tmp_path: Path) -> None:
    records, issues = _read(f"hf:{tmp_path}")
    assert records == []
    assert len(issues) == 1 and "cannot load the saved dataset" in issues[0].reason


# ---------------------------------------------------------------- bad input, one issue each


def test_bad_jsonl_lines_become_issues_and_the_rest_survives(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({**PAIR, "id": "ok-1"}).encode(),
        b'{"prompt": "unterminated',
        b"[1, 2, 3]",
        json.dumps({"title": "no body", "id": "x"}).encode(),
        b"",
        json.dumps({**PAIR, "id": "ok-2"}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, issues = _read(path)
    assert [r.id for r in records] == ["ok-1", "ok-2"]
    assert [(i.uri, i.location) for i in issues] == [
        (str(path), "line 2"),
        (str(path), "line 3"),
        (str(path), "line 4"),
    ]
    assert issues[0].reason == "malformed JSON: Unterminated string starting at column 12"
    assert issues[1].reason == "expected a JSON object, got array"
    assert issues[2].reason.startswith("cannot tell the record kind") and "title" in issues[2].reason
    assert str(issues[0]).startswith(f"{path}: line 2: malformed JSON")


def test_wrong_types_missing_fields_and_invalid_utf8_are_quarantined_with_file_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "types.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                json.dumps({**PAIR, "id": "good"}).encode(),
                json.dumps({"id": "t", "prompt": 42, "response": "x"}).encode(),
                json.dumps({"id": "m", "prompt": "only a prompt"}).encode(),
                b'{"id": "u", "prompt": "caf\xc3 bad", "response": "x"}',
                json.dumps({**PAIR, "id": "good-2"}).encode(),
            ]
        )
    )
    records, issues = _read(path)
    assert issues == []
    valid, bad = validate_batch(records)
    assert [r.id for r in valid] == ["good", "good-2"]
    assert [str(q) for q in bad] == [
        f"{path}: line 2: field 'prompt' must be a string, got int",
        f"{path}: line 3: missing required field 'response'",
        f"{path}: line 4: field 'prompt' is not valid text: invalid UTF-8 byte 0xC3 at character 3",
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jsonl", b"", "empty file"),
        ("blank.jsonl", b"\n  \n\n", "empty file: no records in it"),
        ("empty.json", b"[]", "empty file: no records in it"),
        ("binary.jsonl", b'{"a": 1}\n\x00\x01\x02\xff', "binary file: NUL bytes in the first 8,192 bytes"),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "binary file"),
        ("data.xml", b"<a/>", "unsupported extension '.xml'"),
        ("noext", b"{}", "unsupported extension '(none)'"),
        ("fake.parquet", b"id,prompt\n1,2\n", "not a Parquet file (no PAR1 magic bytes)"),
        ("broken.parquet", b"PAR1 this is not really parquet PAR1", "not a readable Parquet file"),
        ("object.json", b'{"prompt": "p", "response": "r"}', "expected a JSON array of objects"),
        ("header-only.csv", b"prompt,response\n", "empty file: no records in it"),
    ],
)
def test_bad_files_give_one_clear_issue(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    records, issues = _read(path)
    assert records == []
    assert len(issues) == 1
    assert issues[0].uri == str(path) and issues[0].location == "file"
    assert reason in issues[0].reason


def test_missing_path_and_unknown_scheme(tmp_path: Path) -> None:
    assert [i.reason for i in _read(tmp_path / "nope.jsonl")[1]] == ["no such file or folder"]
    assert "unsupported URI scheme" in _read("s3://bucket/key.jsonl")[1][0].reason


def test_oversized_records_are_skipped_without_losing_neighbours(tmp_path: Path) -> None:
    big = {**PAIR, "id": "big", "response": "x" * 5_000}
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{**PAIR, "id": "1"}, big, {**PAIR, "id": "3"}])
    records, issues = _read(jsonl, max_record_bytes=1_024)
    assert [r.id for r in records] == ["1", "3"]
    size = len(json.dumps(big)) + 1  # with its newline
    assert [(i.location, i.reason) for i in issues] == [
        ("line 2", f"record is {size:,} bytes, over max_record_bytes=1,024")
    ]

    array = tmp_path / "a.json"
    array.write_text(json.dumps([{**PAIR, "id": "1"}, big, {**PAIR, "id": "3"}]), encoding="utf-8")
    records, issues = _read(array, max_record_bytes=1_024)
    assert [r.id for r in records] == ["1", "3"]
    assert [i.location for i in issues] == ["record 2"] and "over max_record_bytes=1,024" in issues[0].reason

    text = tmp_path / "big.txt"
    text.write_text("y" * 2_000, encoding="utf-8")
    assert "over max_record_bytes" in _read(text, max_record_bytes=1_024)[1][0].reason


def test_json_array_skips_bad_elements_and_reports_where(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        '[{"id": "1", "prompt": "p", "response": "r"}, 7, {"id": "x", "prompt": ,}, {"id": "4", "text": "t"}]',
        encoding="utf-8",
    )
    records, issues = _read(path)
    assert [r.id for r in records] == ["1", "4"]
    assert [(i.location, i.reason.split(":")[0]) for i in issues] == [
        ("record 2", "expected a JSON object, got integer"),
        ("record 3", "malformed JSON"),
    ]


def test_json_array_not_closed(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[{"id": "1", "text": "t"}, {"id": "2", "text": "unfinished', encoding="utf-8")
    records, issues = _read(path)
    assert [r.id for r in records] == ["1"]
    assert [(i.location, i.reason) for i in issues] == [
        ("record 2", "malformed JSON: the record is not closed before the end of the file")
    ]


def test_csv_row_with_wrong_field_count(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,prompt,response\n1,q,a\n2,q\n3,q,a,extra\n4,q,a\n", encoding="utf-8")
    records, issues = _read(path)
    assert [r.id for r in records] == ["1", "4"]
    assert [(i.location, i.reason) for i in issues] == [
        ("line 3", "row has 2 fields, the header has 3"),
        ("line 4", "row has 4 fields, the header has 3"),
    ]


# ---------------------------------------------------------------- HTTP(S)


def test_url_records(http_base: str) -> None:
    records, issues = _read(f"{http_base}/pairs.jsonl")
    assert issues == []
    assert [(r.id, r.uri, r.location) for r in records] == [
        (f"web-{i}", f"{http_base}/pairs.jsonl", f"line {i + 1}") for i in range(3)
    ]


def test_url_format_from_content_type(http_base: str) -> None:
    assert [r.id for r in _read(f"{http_base}/stream")[0]] == ["web-0", "web-1", "web-2"]


def test_url_404_is_an_issue_without_retries(http_base: str, handler_calls: dict[str, int]) -> None:
    records, issues = _read(f"{http_base}/missing.jsonl", http_retries=3, http_backoff_s=0)
    assert records == []
    assert [(i.uri, i.location, i.reason) for i in issues] == [
        (f"{http_base}/missing.jsonl", "request", "HTTP 404 Not Found")
    ]
    assert handler_calls["/missing.jsonl"] == 1


def test_url_timeout_is_retried_then_an_issue(http_base: str, handler_calls: dict[str, int]) -> None:
    records, issues = _read(f"{http_base}/slow.jsonl", http_timeout_s=0.2, http_retries=1, http_backoff_s=0)
    assert records == []
    assert len(issues) == 1
    assert issues[0].reason == "timed out (ReadTimeout, timeout 0.2 s); gave up after 2 attempt(s)"
    assert handler_calls["/slow.jsonl"] == 2


def test_url_5xx_is_retried_until_it_works(http_base: str, handler_calls: dict[str, int]) -> None:
    records, issues = _read(f"{http_base}/flaky.jsonl", http_retries=3, http_backoff_s=0.01)
    assert issues == [] and len(records) == 3
    assert handler_calls["/flaky.jsonl"] == 3


def test_url_over_the_size_cap_is_stopped(http_base: str) -> None:
    records, issues = _read(f"{http_base}/huge.jsonl", max_download_bytes=100_000)
    assert records == []
    assert "over max_download_bytes=100,000" in issues[0].reason


def test_unreachable_host_is_an_issue() -> None:
    records, issues = _read("http://127.0.0.1:9/data.jsonl", http_retries=0, http_timeout_s=1)
    assert records == [] and issues[0].reason.startswith("connection failed (ConnectError")


# ---------------------------------------------------------------- streams, limits, manifest


def test_limit_counts_records_over_all_sources(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [{**PAIR, "id": f"a{i}"} for i in range(3)])
    b = write_jsonl(tmp_path / "b.jsonl", [{**PAIR, "id": f"b{i}"} for i in range(3)])
    records, _ = split_items(list(read_sources([a, b], SourceConfig(limit=4))))
    assert [r.id for r in records] == ["a0", "a1", "a2", "b0"]


def test_batches_hold_batch_size_records_and_carry_issues(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(
        "".join([json.dumps({**PAIR, "id": str(i)}) + "\n" for i in range(5)]) + "not json\n", encoding="utf-8"
    )
    batches = list(read_batches([path], SourceConfig(batch_size=2)))
    assert [[getattr(x, "id", "issue") for x in b] for b in batches] == [["0", "1"], ["2", "3"], ["4", "issue"]]


def test_manifest_has_checksum_counts_and_time(tmp_path: Path, http_base: str) -> None:
    good = write_jsonl(tmp_path / "a.jsonl", [{**PAIR, "id": "1"}, {**PAIR, "id": "2"}])
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": "3", "prompt": "p", "response": "r"}\n{oops\n', encoding="utf-8")
    manifest = build_manifest([good, bad, f"{http_base}/pairs.jsonl"])
    assert [(e.uri, e.records, e.issues, e.complete) for e in manifest.entries] == [
        (str(good), 2, 0, True),
        (str(bad), 1, 1, True),
        (f"{http_base}/pairs.jsonl", 3, 0, True),
    ]
    assert manifest.entries[0].sha256 == hashlib.sha256(good.read_bytes()).hexdigest()
    assert manifest.entries[0].bytes == good.stat().st_size
    assert (
        manifest.entries[2].sha256
        == hashlib.sha256(
            b"".join(json.dumps({**PAIR, "id": f"web-{i}"}).encode() + b"\n" for i in range(3))
        ).hexdigest()
    )
    assert all(e.seconds >= 0 and e.started_at.tzinfo is not None for e in manifest.entries)
    assert (manifest.records, manifest.issues) == (6, 1)


def test_manifest_marks_a_source_cut_short_by_the_limit(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{**PAIR, "id": str(i)} for i in range(5)])
    manifest = build_manifest([path], SourceConfig(limit=2))
    assert [(e.records, e.complete) for e in manifest.entries] == [(2, False)]
