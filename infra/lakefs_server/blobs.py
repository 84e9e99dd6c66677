"""Content-addressed object bytes on local disk: one file per distinct content, named by its sha256.

An upload streams into a temporary file in ``tmp/`` while both hashes are computed; only when the
whole body has arrived is the file flushed to disk and renamed to ``objects/<aa>/<sha256>``. A
rename on one filesystem is atomic, so a blob is either complete or absent, never half written,
and content that is already stored is kept once (the new copy is simply dropped). Leftover
temporary files from a crash are removed at start-up.

Blobs are shared by every repository and never deleted (there is no garbage collection), which is
what makes copies and branches free.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True, slots=True)
class StoredBlob:
    address: str  # sha256 hex
    checksum: str  # md5 hex
    size: int


class BlobStore:
    def __init__(self, root: Path) -> None:
        self._objects = root / "objects"
        self._tmp = root / "tmp"

    def prepare(self) -> None:
        """Create the directories and drop partial uploads left behind by a crash."""
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)

    def path(self, address: str) -> Path:
        return self._objects / address[:2] / address

    def new_writer(self) -> BlobWriter:
        return BlobWriter(self)

    @staticmethod
    def physical_address(address: str) -> str:
        """Where lakeFS would report the object lives: relative to the data directory, so no
        path of the host leaks to clients."""
        return f"local://objects/{address[:2]}/{address}"

    def temp_path(self) -> Path:
        return self._tmp / f"upload-{secrets.token_hex(16)}"


class BlobWriter:
    """Receives one upload in chunks. Call ``finish`` once, or ``abort`` to throw it away."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self._temp = store.temp_path()
        self._file: BinaryIO | None = None  # opened by the first write, in a worker thread
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0

    def _open(self) -> BinaryIO:
        if self._file is None:
            self._file = open(self._temp, "xb", buffering=0)  # chunks are large: skip Python's buffer
        return self._file

    def write(self, chunks: Sequence[bytes]) -> None:
        """Hash and write a batch of chunks. Runs in a worker thread; hashlib releases the GIL."""
        file = self._open()
        for chunk in chunks:
            self._sha256.update(chunk)
            self._md5.update(chunk)
            view = memoryview(chunk)
            while view:
                written = file.write(view)
                view = view[written:]
            self._size += len(chunk)

    def finish(self) -> StoredBlob:
        """Move the blob into place under its content hash, durably; drop it if already stored."""
        blob = StoredBlob(address=self._sha256.hexdigest(), checksum=self._md5.hexdigest(), size=self._size)
        target = self._store.path(blob.address)
        if target.exists():
            self.abort()  # identical content is already stored: no need to flush this copy
            return blob
        file = self._open()
        os.fsync(file.fileno())
        file.close()
        created_dir = not target.parent.exists()
        target.parent.mkdir(exist_ok=True)
        os.replace(self._temp, target)
        _fsync_dir(target.parent)
        if created_dir:
            _fsync_dir(target.parent.parent)
        return blob

    def abort(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._temp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: the directory entry, not only the file's data, must reach disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
