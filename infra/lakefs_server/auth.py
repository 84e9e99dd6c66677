"""HTTP basic authentication with one access key, as lakeFS clients send it.

The key comes from a JSON file, ``{"access_key_id": ..., "secret_access_key": ...}``, optionally
with ``"user_id"`` (the name shown as committer; default ``admin``). The file is read once at
start-up; the secret never appears in logs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path

from infra.lakefs_server.errors import Unauthorized

DEFAULT_USER_ID = "admin"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    user_id: str = DEFAULT_USER_ID

    @classmethod
    def from_file(cls, path: Path) -> Credentials:
        try:
            data = json.loads(path.read_text())
            key_id, secret = data["access_key_id"], data["secret_access_key"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: expected JSON with access_key_id and secret_access_key ({exc})") from exc
        if not (isinstance(key_id, str) and isinstance(secret, str) and key_id and secret):
            raise ValueError(f"{path}: access_key_id and secret_access_key must be non-empty strings")
        return cls(key_id, secret, str(data.get("user_id") or DEFAULT_USER_ID))

    def authenticate(self, authorization: str | None) -> str:
        """The user id for a valid ``Authorization: Basic ...`` header; Unauthorized otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not token:
            raise Unauthorized("error authenticating request")
        try:
            key_id, sep, secret = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized("error authenticating request") from exc
        # Compare both parts in constant time, and always both, so timing reveals nothing.
        key_ok = hmac.compare_digest(key_id.encode(), self.access_key_id.encode())
        secret_ok = hmac.compare_digest(secret.encode(), self.secret_access_key.encode())
        if not (sep and key_ok and secret_ok):
            raise Unauthorized("error authenticating request")
        return self.user_id
