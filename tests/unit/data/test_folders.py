"""Folder sources: files without records are skipped and counted, not invalid; links stay inside the folder
and never loop; a run never reads its own output; an empty folder says so."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from tasks.ingest import RAW_RECORDS, write_raw_records
from tasks.ingest.sources import ManifestEntry, SourceConfig, SourceManifest, read_batches, read_source
from tasks.prepare.pipeline import PrepConfig, prepare_dataset

from .conftest import PAIR, split_items, write_jsonl

# Four short pages of a made-up tool's handbook, written for this test.
PAGES = {
    "index.md": "# Harbor\n\nHarbor keeps the shipping schedule of a small port. Each morning it reads the "
    "arrivals list and tells the crane operators which berth to clear first.",
    "install.md": "# Installing Harbor\n\nDownload the archive, unpack it next to the schedule folder and run "
    "the setup script once. The script asks for the port code and the time zone.",
    "berths.md": "# Berths\n\nA berth is a numbered place along the quay. Harbor gives every berth a length "
    "and a depth, and never plans a ship into a berth that is too shallow for it.",
    "faq.md": "# Questions\n\nWhy did Harbor skip my ship? Most often the draught in the arrivals list is "
    "missing, so Harbor cannot tell whether any berth is deep enough.",
}


def _png(width: int = 3, height: int = 2) -> bytes:
    """A real PNG: signature, IHDR, one zlib-compressed IDAT of red pixels, IEND, each chunk with its CRC."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def _excalidraw() -> str:
    """An Excalidraw drawing as the app saves it: JSON with a rectangle and a label."""
    elements = [
        {"id": "box", "type": "rectangle", "x": 10, "y": 20, "width": 200, "height": 80, "strokeColor": "#1e1e1e"},
        {"id": "label", "type": "text", "x": 30, "y": 45, "text": "crane queue", "fontSize": 20},
    ]
    drawing = {"type": "excalidraw", "version": 2, "elements": elements, "appState": {}, "files": {}}
    return json.dumps(drawing, indent=2)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("old/index.md", PAGES["index.md"])
        archive.writestr("old/notes.txt", "Notes kept from the first version of the handbook.")
    return buffer.getvalue()


@pytest.fixture
def handbook(tmp_path: Path) -> Path:
    """Markdown pages with pictures, a drawing, an archive and a program beside them."""
    root = tmp_path / "handbook"
    (root / "images").mkdir(parents=True)
    for name, text in PAGES.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "images" / "berths.png").write_bytes(_png())
    (root / "images" / "quay.PNG").write_bytes(_png(5, 4))
    (root / "images" / "crane-queue.excalidraw").write_text(_excalidraw(), encoding="utf-8")
    (root / "handbook-v1.zip").write_bytes(_zip())
    (root / "harbor-cli").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(56))
    return root


def test_documents_with_images_beside_them_pass_the_data_policy(handbook: Path, tmp_path: Path) -> None:
    assert zlib.decompress(_png()[41:-16])  # the picture is a real PNG: its IDAT inflates
    entries: list[ManifestEntry] = []
    report = prepare_dataset(
        read_batches([handbook], manifest=entries), PrepConfig(max_invalid_fraction=0.05), tmp_path / "out"
    )
    assert report.decision.proceed, report.decision.reason
    assert (report.records_in["document"], report.source_issues, report.decision.invalid) == (4, 0, 0)
    assert report.decision.total == 4  # the skipped files are not input items at all

    folder = entries[0]
    assert (folder.uri, folder.format, folder.issues, folder.complete) == (str(handbook), "folder", 0, True)
    assert folder.skipped == {".png": 2, ".excalidraw": 1, ".zip": 1, "(none)": 1}
    assert [e.uri for e in entries[1:]] == [str(handbook / n) for n in sorted(PAGES)]
    assert SourceManifest(entries=entries).skipped == folder.skipped


def test_an_empty_folder_is_an_issue_that_names_it_and_says_what_to_do(tmp_path: Path) -> None:
    empty = tmp_path / "inbox"
    empty.mkdir()
    entries: list[ManifestEntry] = []
    records, issues = split_items(list(read_source(empty, manifest=entries)))
    assert records == []
    assert [(i.uri, i.location) for i in issues] == [(str(empty), "folder")]
    assert issues[0].reason.startswith("empty folder: nothing to read in it; put the records in it as ")
    assert ".jsonl" in issues[0].reason and ".md" in issues[0].reason
    assert (entries[0].format, entries[0].issues) == ("folder", 1)

    (empty / "sketch.png").write_bytes(_png())
    (empty / ".keep").write_text("", encoding="utf-8")
    (empty / "later").mkdir()
    _, issues = split_items(list(read_source(empty)))
    assert len(issues) == 1
    assert issues[0].reason.startswith("no files with records in the folder (skipped: 1 .png, 1 hidden")

    write_jsonl(empty / "later" / "pairs.jsonl", [{**PAIR, "id": "p1"}])  # an empty subfolder is no issue
    (empty / "empty-subfolder").mkdir()
    records, issues = split_items(list(read_source(empty)))
    assert [r.id for r in records] == ["p1"] and issues == []


@pytest.mark.timeout(30)  # without cycle detection the walk goes round the loops for many minutes
def test_a_symlink_loop_is_one_clear_issue_and_every_record_is_read_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    write_jsonl(root / "a.jsonl", [{**PAIR, "id": f"a{i}"} for i in range(3)])
    write_jsonl(root / "sub" / "b.jsonl", [{**PAIR, "id": "b0"}])
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)  # back to the root
    (root / "self").symlink_to(".", target_is_directory=True)
    (root / "x").symlink_to("y")  # two links pointing at each other
    (root / "y").symlink_to("x")
    records, issues = split_items(list(read_source(root)))
    assert [r.id for r in records] == ["a0", "a1", "a2", "b0"]
    assert [(i.uri, i.location, i.reason.split(":")[0]) for i in issues] == [
        (str(root / "self"), "link", "symbolic link loop"),
        (str(root / "sub" / "up"), "link", "symbolic link loop"),
        (str(root / "x"), "link", "symbolic link loop"),
        (str(root / "y"), "link", "symbolic link loop"),
    ]
    assert f"points to {root.resolve()}, a folder that contains it" in issues[1].reason


def test_links_are_followed_inside_the_folder_only_and_name_each_record_by_its_real_path(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / ".drafts").mkdir()
    (tmp_path / "elsewhere").mkdir()
    write_jsonl(root / "data.jsonl", [{**PAIR, "id": "d0"}, {**PAIR, "id": "d1"}])
    write_jsonl(root / "sub" / "c.jsonl", [{**PAIR, "id": "c0"}])
    write_jsonl(root / ".drafts" / "e.jsonl", [{**PAIR, "id": "e0"}])
    write_jsonl(tmp_path / "elsewhere" / "f.jsonl", [{**PAIR, "id": "secret"}])
    (root / "alias.jsonl").symlink_to("data.jsonl")
    (root / "shortcut").symlink_to("sub", target_is_directory=True)
    (root / "drafts").symlink_to(".drafts", target_is_directory=True)  # a hidden folder, linked on purpose
    (root / "outside").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "broken.jsonl").symlink_to("gone.jsonl")
    entries: list[ManifestEntry] = []
    records, issues = split_items(list(read_source(root, manifest=entries)))
    assert [(r.id, r.uri) for r in records] == [
        ("d0", str(root / "data.jsonl")),
        ("d1", str(root / "data.jsonl")),
        ("e0", str(root / "drafts" / "e.jsonl")),
        ("c0", str(root / "sub" / "c.jsonl")),
    ]
    assert [(i.uri, i.reason.split(":")[0]) for i in issues] == [
        (str(root / "broken.jsonl"), "broken symbolic link to gone.jsonl"),
        (
            str(root / "outside"),
            f"symbolic link to {(tmp_path / 'elsewhere').resolve()}, outside the source folder {root.resolve()}",
        ),
    ]
    assert (entries[0].already_read, entries[0].issues) == (2, 2)


def test_a_run_never_reads_its_own_output_inside_the_source(tmp_path: Path) -> None:
    source = tmp_path / "project"
    source.mkdir()
    write_jsonl(
        source / "pairs.jsonl", [{**PAIR, "id": f"p{i}", "response": f"{PAIR['response']} {i}"} for i in range(20)]
    )
    out = source / "prepared"
    for _ in range(2):  # the second run finds the first one's Parquet files, quarantine and report there
        entries: list[ManifestEntry] = []
        report = prepare_dataset(read_batches([source], manifest=entries, exclude=[out]), PrepConfig(), out)
        assert (report.records_in["instruction"], report.source_issues, report.decision.invalid) == (20, 0, 0)
        assert entries[0].excluded == [str(out)]

    from tasks.ingest import mark_run_output

    # Another run's output, marked, is left out without being named; so is the work folder of the raw commit.
    old_run = source / "old-run"
    mark_run_output(old_run)
    write_jsonl(old_run / "quarantine.jsonl", [{"stage": "source", "reason": "x", "record": PAIR}])
    (source / "work").mkdir()
    manifest, records, issues, _ = write_raw_records(
        [str(source)], SourceConfig(), source / "work" / RAW_RECORDS, exclude=[out]
    )
    assert (records, issues) == (20, 0)
    assert manifest.entries[0].excluded == [str(old_run), str(out), str(source / "work")]
    assert [e.uri for e in manifest.entries[1:]] == [str(source / "pairs.jsonl")]


@pytest.mark.timeout(20)
def test_a_named_pipe_in_a_folder_is_skipped_never_opened(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "pairs.jsonl", [{**PAIR, "id": "p1"}])
    os.mkfifo(tmp_path / "events")
    entries: list[ManifestEntry] = []
    records, issues = split_items(list(read_source(tmp_path, manifest=entries)))
    assert ([r.id for r in records], issues) == (["p1"], [])
    assert entries[0].skipped == {"(not a regular file)": 1}
