"""The built-in Python documentation corpus: both kinds, deterministic, never imports a module."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.ingest.records import Record
from tasks.ingest.sources import PYTHON_DOCS_URI, ManifestEntry, SourceConfig, read_source
from tasks.ingest.sources.python_docs import module_files, read_python_docs

FAKE_MODULE = '''"""Tools for boom."""
from pathlib import Path
Path(__file__).with_name("IMPORTED").write_text("side effect")

__all__ = ["detonate", "Fuse"]


def detonate(delay: int = 3) -> None:
    """Make it go boom after ``delay`` seconds."""


def helper():
    """Not public: missing from __all__."""


class Fuse:
    """A fuse."""

    def light(self, match):
        """Light the fuse with ``match``."""

    def _hidden(self):
        """Private."""
'''


def _fake_stdlib(root: Path, blank_lines: int = 0) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text('"""The pkg package."""\n', encoding="utf-8")
    (root / "pkg" / "boom.py").write_text("\n" * blank_lines + FAKE_MODULE, encoding="utf-8")
    (root / "_private.py").write_text('"""Private module."""\n', encoding="utf-8")
    (root / "test").mkdir()
    (root / "test" / "test_boom.py").write_text('"""Tests."""\n', encoding="utf-8")
    (root / "broken.py").write_text('"""Doc."""\ndef (:\n', encoding="utf-8")
    return root


def test_slice_is_documents_in_a_deterministic_order() -> None:
    first = list(read_source(PYTHON_DOCS_URI, SourceConfig(limit=400)))
    again = list(read_source("python-docs", SourceConfig(limit=400)))
    assert first == again
    records = [r for r in first if isinstance(r, Record)]
    assert len(records) == 400 and {r.kind for r in records} == {"document"}
    assert len({r.id for r in records}) == 400
    topic = records[0]
    assert (topic.kind, topic.uri, topic.location) == ("document", PYTHON_DOCS_URI, "pydoc_data.topics['assert']")
    assert topic.fields["title"] == "assert" and "assert" in topic.fields["text"]
    module = next(r for r in records if r.location.endswith(" module __future__"))
    assert module.fields["title"] == "__future__"


def test_kind_keeps_one_kind_of_the_builtin_corpus() -> None:
    items = list(read_source(PYTHON_DOCS_URI, SourceConfig(limit=50, kind="document")))
    assert len(items) == 50 and {i.kind for i in items} == {"document"}


def test_modules_are_parsed_not_imported(tmp_path: Path) -> None:
    root = _fake_stdlib(tmp_path / "lib")
    manifest: list[ManifestEntry] = []
    items = list(read_python_docs(root=root, manifest=manifest))
    assert not (root / "pkg" / "IMPORTED").exists()
    records = [i for i in items if isinstance(i, Record)]
    issues = [i for i in items if not isinstance(i, Record)]
    module_records = [(r.kind, r.location) for r in records if not r.location.startswith("pydoc_data")]
    assert module_records == [
        ("document", "pkg/__init__.py module pkg"),
        ("document", "pkg/boom.py module pkg.boom"),
        ("document", "pkg/boom.py:8 pkg.boom.detonate"),
        ("document", "pkg/boom.py:16 pkg.boom.Fuse"),
        ("document", "pkg/boom.py:19 pkg.boom.Fuse.light"),
    ]
    detonate = next(r for r in records if r.location.endswith("pkg.boom.detonate"))
    assert detonate.fields["title"] == "pkg.boom.detonate"
    assert detonate.fields["text"] == "pkg.boom.detonate(delay: int=3)\n\nMake it go boom after ``delay`` seconds."
    fuse = next(r for r in records if r.location.endswith("pkg.boom.Fuse"))
    assert fuse.fields["text"].startswith("class pkg.boom.Fuse\n\n")  # a class line, not a call signature
    light = next(r for r in records if r.location.endswith("Fuse.light"))
    assert light.fields["text"].startswith("pkg.boom.Fuse.light(match)")
    assert json.loads(light.fields["meta"])["qualname"] == "pkg.boom.Fuse.light"
    module = next(r for r in records if r.location == "pkg/boom.py module pkg.boom")
    assert (module.fields["title"], module.fields["text"]) == ("pkg.boom", "Tools for boom.")
    assert [(i.location, i.reason.split(":")[0]) for i in issues] == [("broken.py", "cannot parse the module source")]
    assert manifest[0].uri == PYTHON_DOCS_URI and manifest[0].complete and len(manifest[0].sha256) == 64


def test_ids_follow_qualified_names_not_lines(tmp_path: Path) -> None:
    before = {
        r.location.split()[-1]: r.id
        for r in read_python_docs(root=_fake_stdlib(tmp_path / "a"))
        if isinstance(r, Record)
    }
    after = {
        r.location.split()[-1]: r.id
        for r in read_python_docs(root=_fake_stdlib(tmp_path / "b", 5))
        if isinstance(r, Record)
    }
    assert before == after and "pkg.boom.Fuse.light" in before


def test_module_files_skip_tests_private_modules_and_site_packages(tmp_path: Path) -> None:
    root = _fake_stdlib(tmp_path / "lib")
    (root / "site-packages" / "thirdparty").mkdir(parents=True)
    (root / "site-packages" / "thirdparty" / "__init__.py").write_text('"""3rd."""', encoding="utf-8")
    (root / "pkg" / "__main__.py").write_text('"""Main."""', encoding="utf-8")
    assert [name for name, _ in module_files(root)] == ["broken", "pkg", "pkg.boom"]
