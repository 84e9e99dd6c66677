"""The ingest flow on a folder of Markdown pages with pictures beside them: the pictures are skipped and
counted in the raw commit's manifest, not committed as source issues."""

from __future__ import annotations

import json
from pathlib import Path

import lakefs
import pytest

from flows.ingest import ingest_flow
from llmops import clients, prefect_api
from llmops.settings import Settings
from tasks.ingest.sources import SourceConfig

pytestmark = pytest.mark.integration


def test_ingesting_a_folder_reports_the_skipped_files_in_the_manifest(running_stack: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "img").mkdir(parents=True)
    (folder / "tides.md").write_text("# Tides\n\nThe harbour floods twice a day at spring tide.\n", encoding="utf-8")
    (folder / "cranes.md").write_text("# Cranes\n\nEach crane lifts forty tonnes at most.\n", encoding="utf-8")
    (folder / "img" / "quay.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (folder / "img" / "plan.excalidraw").write_text('{"type": "excalidraw", "elements": []}', encoding="utf-8")
    with prefect_api.prefect_context(running_stack):
        raw = ingest_flow(sources=[str(folder)], source_config=SourceConfig())
    assert (raw.records, raw.issues) == (2, 0)

    client = clients.lakefs_client(running_stack)
    ref = lakefs.Reference(running_stack.lakefs.repository, raw.commit, client=client)
    with ref.object(f"{raw.prefix}manifest.json").reader(mode="r") as f:
        manifest = json.loads(f.read())
    assert manifest["skipped"] == {".excalidraw": 1, ".png": 1}
    folder_entry = manifest["entries"][0]
    assert (folder_entry["uri"], folder_entry["format"], folder_entry["skipped"]) == (
        str(folder),
        "folder",
        {".excalidraw": 1, ".png": 1},
    )
