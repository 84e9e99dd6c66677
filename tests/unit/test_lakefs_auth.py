"""Basic-auth credentials of the lakeFS-compatible server."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from infra.lakefs_server.auth import Credentials
from infra.lakefs_server.errors import Unauthorized

CREDS = Credentials("AKIAEXAMPLE", "s3cr3t")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_valid_credentials_give_the_user() -> None:
    assert CREDS.authenticate(basic("AKIAEXAMPLE", "s3cr3t")) == "admin"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Basic !!!",
        basic("AKIAEXAMPLE", "wrong"),
        basic("other", "s3cr3t"),
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
def test_anything_else_is_unauthorized(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        CREDS.authenticate(header)


def test_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"access_key_id": "AKIA1", "secret_access_key": "topsecret", "user_id": "ci"}))
    loaded = Credentials.from_file(path)
    assert (loaded.access_key_id, loaded.user_id) == ("AKIA1", "ci")
    assert "topsecret" not in repr(loaded)  # the secret never shows in logs


@pytest.mark.parametrize("content", ["not json", "{}", '{"access_key_id": "a", "secret_access_key": ""}'])
def test_bad_credentials_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"c\.json"):
        Credentials.from_file(path)
