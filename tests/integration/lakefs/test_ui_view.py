"""The server's read-only HTML view, where the links in Prefect artifacts lead: read in Chromium."""

from __future__ import annotations

import gzip
import json
from urllib.parse import quote

import httpx
import lakefs
import pytest

from infra.lakefs_server.runner import ServerProcess
from tests.e2e.test_ui_custom_run import chrome_binaries, driver  # noqa: F401 - the browser fixtures
from tests.integration.lakefs.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

pytestmark = pytest.mark.integration


def test_the_view_needs_the_servers_credentials(lakefs_server: ServerProcess, repo: lakefs.Repository) -> None:
    page = f"{lakefs_server.url}/ui/{repo.id}"
    refused = httpx.get(page)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(page, auth=(ACCESS_KEY_ID, "wrong")).status_code == 401
    ok = httpx.get(page, auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY))
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/html")
    missing = httpx.get(f"{lakefs_server.url}/ui/{repo.id}/commits/nosuchref", auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


def test_a_person_follows_a_commit_link_to_its_changes_and_objects(
    lakefs_server: ServerProcess,
    plain_repo: lakefs.Repository,
    driver,  # noqa: F811 - the fixture
) -> None:
    from selenium.webdriver.common.by import By

    branch = plain_repo.branch("main")
    rows = [{"prompt": "How do I open a file?", "response": "with open(path) as f"}]
    branch.object("prepared/train/part-0.jsonl.gz").upload(
        gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()), content_type="application/gzip"
    )
    branch.object("prepared/report.json").upload(json.dumps({"records": 1, "dropped": 0}).encode())
    commit = branch.commit(
        "prepare 1 record <script>alert(1)</script>", metadata={"llmops.stage": "prepare", "llmops.records": "1"}
    )

    host = lakefs_server.url.removeprefix("http://")
    login = f"{quote(ACCESS_KEY_ID)}:{quote(SECRET_ACCESS_KEY, safe='')}"  # the browser's basic-auth answer
    driver.get(f"http://{login}@{host}/ui/{plain_repo.id}/commits/{commit.get_commit().id}")
    text = driver.find_element(By.TAG_NAME, "body").text
    assert "prepare 1 record <script>alert(1)</script>" in text  # shown as text, never run
    assert "llmops.stage" in text and "prepare" in text
    assert "added" in text and "prepared/report.json" in text

    driver.find_element(By.LINK_TEXT, "prepared/train/part-0.jsonl.gz").click()
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "How do I open a file?" in page and "application/gzip" in page  # the gzip JSON lines, unpacked

    driver.back()
    driver.find_element(By.LINK_TEXT, plain_repo.id).click()
    overview = driver.find_element(By.TAG_NAME, "body").text
    assert "Branches" in overview and "main" in overview and commit.get_commit().id[:16] in overview
