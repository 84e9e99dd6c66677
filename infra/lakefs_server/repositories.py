"""Repository records: name, storage namespace, default branch, metadata and protection rules."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sqlite3
from dataclasses import dataclass

from infra.lakefs_server.errors import NotFound

_COLUMNS = "name, storage_namespace, default_branch, creation_date, read_only, metadata, protection_rules"


@dataclass(frozen=True, slots=True)
class Repository:
    name: str
    storage_namespace: str
    default_branch: str
    creation_date: int
    read_only: bool
    metadata: dict[str, str]
    protection_rules: list[str]  # fnmatch patterns of branch names

    def is_protected(self, branch: str) -> bool:
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in self.protection_rules)

    def rules_etag(self) -> str:
        """Version tag of the protection rules, for conditional updates (If-Match)."""
        return hashlib.sha256(json.dumps(self.protection_rules).encode()).hexdigest()


def _from_row(row: tuple) -> Repository:
    name, namespace, default_branch, date, read_only, metadata, rules = row
    return Repository(name, namespace, default_branch, date, bool(read_only), json.loads(metadata), json.loads(rules))


def find(conn: sqlite3.Connection, name: str) -> Repository | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM repositories WHERE name = ?", (name,)).fetchone()
    return _from_row(row) if row else None


def get(conn: sqlite3.Connection, name: str) -> Repository:
    repo = find(conn, name)
    if repo is None:
        raise NotFound(f"repository not found: {name!r}")
    return repo


def page(conn: sqlite3.Connection, after: str, prefix: str, search: str, limit: int) -> list[Repository]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM repositories WHERE name > ? AND substr(name, 1, ?) = ? AND instr(name, ?) > 0"
        " ORDER BY name LIMIT ?",
        (after, len(prefix), prefix, search, limit),
    ).fetchall()
    return [_from_row(row) for row in rows]


def insert(conn: sqlite3.Connection, repo: Repository) -> None:
    conn.execute(
        f"INSERT INTO repositories ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            repo.name,
            repo.storage_namespace,
            repo.default_branch,
            repo.creation_date,
            int(repo.read_only),
            json.dumps(repo.metadata),
            json.dumps(repo.protection_rules),
        ),
    )


def set_metadata(conn: sqlite3.Connection, name: str, metadata: dict[str, str]) -> None:
    conn.execute("UPDATE repositories SET metadata = ? WHERE name = ?", (json.dumps(metadata), name))


def set_protection_rules(conn: sqlite3.Connection, name: str, patterns: list[str]) -> None:
    conn.execute("UPDATE repositories SET protection_rules = ? WHERE name = ?", (json.dumps(patterns), name))


def delete(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM repositories WHERE name = ?", (name,))
    conn.execute("DELETE FROM branches WHERE repo = ?", (name,))
    conn.execute("DELETE FROM tags WHERE repo = ?", (name,))
