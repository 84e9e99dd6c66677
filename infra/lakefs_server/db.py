"""The SQLite metadata store: schema, connections and transactions.

SQLite runs in WAL mode, so readers never wait for the writer and see a consistent snapshot for
the whole of their transaction. Writes are serialised by one lock in this process (the server is a
single process) and each API call that changes state is one ``BEGIN IMMEDIATE`` transaction: a
commit of ten thousand objects lands completely or, after a crash, not at all.

``synchronous=NORMAL`` in WAL mode survives a killed process without losing committed
transactions; after a power cut the last few may roll back, but the database stays consistent.

Tables (every name scoped by repository):

    repositories      name, storage namespace, default branch, metadata, protection rules
    commits           id, parents (JSON, first parent first), message, metadata, metarange
    branches, tags    name -> commit id
    staging           a branch's uncommitted entries; address NULL marks a deletion
    ranges            immutable sorted runs of entries, named by the hash of their content
    range_entries     the entries of each range
    metaranges        a commit's tree: the ordered list of its ranges, named by their hash
    metarange_ranges  the ranges of each metarange with their first and last key
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.lakefs_server.errors import ServiceUnavailable

SCHEMA_VERSION = 1
# A commit of many thousand objects holds the write lock for seconds at most; a writer still
# waiting after this long means something is stuck, and the client gets a 503 instead of hanging.
WRITE_LOCK_TIMEOUT_S = 120.0
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY,
    storage_namespace TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    creation_date INTEGER NOT NULL,
    read_only INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    protection_rules TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS commits (
    seq INTEGER PRIMARY KEY,
    repo TEXT NOT NULL,
    id TEXT NOT NULL,
    parents TEXT NOT NULL,
    committer TEXT NOT NULL,
    message TEXT NOT NULL,
    creation_date INTEGER NOT NULL,
    metarange_pk INTEGER NOT NULL,
    metarange_id TEXT NOT NULL,
    metadata TEXT NOT NULL,
    generation INTEGER NOT NULL,
    UNIQUE (repo, id)
);
CREATE TABLE IF NOT EXISTS branches (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (repo, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    PRIMARY KEY (repo, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staging (
    repo TEXT NOT NULL,
    branch TEXT NOT NULL,
    path TEXT NOT NULL,
    address TEXT,
    size INTEGER,
    checksum TEXT,
    mtime INTEGER,
    content_type TEXT,
    metadata TEXT,
    PRIMARY KEY (repo, branch, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ranges (
    pk INTEGER PRIMARY KEY,
    repo TEXT NOT NULL,
    id TEXT NOT NULL,
    UNIQUE (repo, id)
);
CREATE TABLE IF NOT EXISTS range_entries (
    range_pk INTEGER NOT NULL,
    path TEXT NOT NULL,
    address TEXT NOT NULL,
    size INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (range_pk, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metaranges (
    pk INTEGER PRIMARY KEY,
    repo TEXT NOT NULL,
    id TEXT NOT NULL,
    UNIQUE (repo, id)
);
CREATE TABLE IF NOT EXISTS metarange_ranges (
    metarange_pk INTEGER NOT NULL,
    min_key TEXT NOT NULL,
    max_key TEXT NOT NULL,
    range_pk INTEGER NOT NULL,
    range_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (metarange_pk, min_key)
) WITHOUT ROWID;
"""


class Database:
    """Per-thread connections to one SQLite file, with read and write transactions."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    def prepare(self) -> None:
        """Create the schema (idempotent) and switch the file to WAL mode."""
        conn = self._connection()
        conn.execute("PRAGMA journal_mode=WAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise RuntimeError(f"{self._path} has schema version {version}; this server knows {SCHEMA_VERSION}")
        with self.write() as tx:
            # One statement at a time: executescript() would commit our transaction midway.
            for statement in filter(str.strip, _SCHEMA.split(";")):
                tx.execute(statement)
            tx.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False only so
            # close() can run from the shutdown thread; each connection is used by one thread.
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA cache_size=-16000")  # 16 MB of pages per connection
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # nothing was written: just release the snapshot

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: committed if the block returns, rolled back if it raises."""
        if not self._write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT_S):
            raise ServiceUnavailable("metadata store is busy; try again")
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            self._write_lock.release()

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
