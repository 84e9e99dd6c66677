"""The value stored for one object path, in a commit or in a branch's staging area."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    """What a path points at. The bytes themselves live in the blob store under ``address``."""

    address: str  # sha256 of the content: the blob's name in the content-addressed store
    size: int
    checksum: str  # md5 of the content, which lakeFS reports as checksum and ETag
    mtime: int  # Unix seconds of the upload
    content_type: str
    metadata: str  # user metadata as canonical JSON, so entries compare and hash as plain strings

    def same_content(self, other: Entry | None) -> bool:
        """Equal bytes, type and metadata. The upload time does not count: re-uploading a file
        unchanged is not a change (it does not show in a diff and does not conflict in a merge)."""
        return (
            other is not None
            and self.address == other.address
            and self.content_type == other.content_type
            and self.metadata == other.metadata
        )

    def user_metadata(self) -> dict[str, str]:
        return json.loads(self.metadata)


def encode_metadata(metadata: dict[str, str] | None) -> str:
    """Canonical JSON, so that equal metadata always gives the same string."""
    return json.dumps(metadata or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def same(a: Entry | None, b: Entry | None) -> bool:
    """Both absent, or both present with the same content."""
    if a is None:
        return b is None
    return a.same_content(b)
