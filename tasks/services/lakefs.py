"""The lakeFS adapter: data versioning on the official lakeFS clients (no Prefect here).

The same functions work against the embedded lakeFS-compatible server and against real lakeFS:
they take a ``lakefs.Client`` (see ``connect``, or ``llmops.clients.lakefs_client``) and read no
settings themselves. They hand back references, not blobs: commit ids and ``lakefs://`` URIs.

The usual run: ``ensure_repository`` → ``create_run_branch`` → ``upload_file`` /
``upload_dataframe`` → ``commit`` → ``diff`` → ``merge_into`` the protected main branch → ``tag``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import lakefs
import pandas as pd
from lakefs.client import Client
from lakefs.exceptions import ConflictException, NotFoundException
from lakefs.models import Change, ObjectInfo

SCHEME = "lakefs://"
# Copy in pieces this large: reads are range requests, so memory stays flat for any file size.
CHUNK_BYTES = 8 * 1024 * 1024
_REPOSITORY = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class LakeFSURI:
    """``lakefs://<repository>/<ref>/<path>``: an object (or a prefix) at any ref."""

    repository: str
    ref: str
    path: str = ""

    def __post_init__(self) -> None:
        if not _REPOSITORY.match(self.repository):
            raise ValueError(f"invalid repository name {self.repository!r} in lakeFS URI")
        if not self.ref or "/" in self.ref:
            raise ValueError(f"invalid ref {self.ref!r} in lakeFS URI")

    @classmethod
    def parse(cls, uri: str) -> LakeFSURI:
        if not uri.startswith(SCHEME):
            raise ValueError(f"not a lakeFS URI (expected {SCHEME}<repository>/<ref>/<path>): {uri!r}")
        repository, _, rest = uri[len(SCHEME) :].partition("/")
        ref, _, path = rest.partition("/")
        return cls(repository, ref, path)

    def __str__(self) -> str:
        return f"{SCHEME}{self.repository}/{self.ref}/{self.path}"

    def at(self, ref: str) -> LakeFSURI:
        """The same path at another ref, e.g. pinned to a commit id."""
        return LakeFSURI(self.repository, ref, self.path)

    def child(self, name: str) -> LakeFSURI:
        base = self.path if not self.path or self.path.endswith("/") else self.path + "/"
        return LakeFSURI(self.repository, self.ref, base + name.lstrip("/"))


@dataclass(frozen=True)
class CommitResult:
    """The branch head after a commit or merge, and whether one was actually created."""

    commit_id: str
    created: bool


def connect(host: str, access_key_id: str, secret_access_key: str) -> Client:
    """A client for the lakeFS API at ``host`` (``http://host:port``, without ``/api/v1``)."""
    return Client(host=host, username=access_key_id, password=secret_access_key)


def ensure_repository(
    client: Client, name: str, storage_namespace: str | None = None, default_branch: str = "main"
) -> lakefs.Repository:
    """The repository, created on first use with a protection rule for its default branch; an existing
    one is left as it is (its rules are its owner's).

    lakeFS protects nothing by default: the rule is what keeps the default branch merge-only (writes
    and commits refused, merges accepted), on real lakeFS as on the local server. The namespace
    defaults to ``local://<name>`` (the local server); real lakeFS on S3 needs ``s3://bucket/prefix``.
    """
    repo = lakefs.Repository(name, client=client)
    try:
        repo.properties  # noqa: B018 - the request tells whether it exists
        return repo
    except NotFoundException:
        pass
    repo.create(storage_namespace=storage_namespace or f"local://{name}", default_branch=default_branch, exist_ok=True)
    protect_branch(client, name, default_branch)
    return repo


def protect_branch(client: Client, repository: str, pattern: str) -> bool:
    """Add a branch-protection rule for ``pattern`` (a branch name or glob) unless one exists; True if added.

    The rules are replaced as a whole, conditional on the version just read (If-Match), so two
    callers at once cannot drop each other's rule; the loser reads again."""
    from lakefs_sdk import BranchProtectionRule
    from lakefs_sdk.exceptions import ApiException

    api = client.sdk_client.repositories_api
    for _ in range(3):
        response = api.get_branch_protection_rules_with_http_info(repository)
        rules = list(response.data or [])
        if any(rule.pattern == pattern for rule in rules):
            return False
        etag = (response.headers or {}).get("ETag")
        try:
            api.set_branch_protection_rules(repository, [*rules, BranchProtectionRule(pattern=pattern)], if_match=etag)
            return True
        except ApiException as exc:
            if exc.status != 412:  # 412: the rules changed since they were read
                raise
    raise ConflictException(412, "Precondition Failed", f"branch protection rules of {repository!r} keep changing")


def create_run_branch(
    client: Client, repository: str, branch: str, source: str = "main", exist_ok: bool = True
) -> lakefs.Branch:
    """A branch for one run's data work, starting at ``source``; costs nothing, copies nothing."""
    return lakefs.Branch(repository, branch, client=client).create(source, exist_ok=exist_ok)


def upload_file(
    client: Client,
    uri: LakeFSURI | str,
    local_path: str | os.PathLike[str],
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> ObjectInfo:
    """Upload a local file to a branch path, in chunks (any size, bounded memory)."""
    target = _uri(uri)
    obj = lakefs.Branch(target.repository, target.ref, client=client).object(target.path)
    with (
        open(local_path, "rb") as src,
        obj.writer("wb", content_type=content_type, metadata=dict(metadata) if metadata else None) as dst,
    ):
        shutil.copyfileobj(src, dst, CHUNK_BYTES)
    return obj.stat()


def download_file(client: Client, uri: LakeFSURI | str, local_path: str | os.PathLike[str]) -> Path:
    """Download an object to ``local_path``; the file appears complete or not at all."""
    source = _uri(uri)
    target = Path(local_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    obj = lakefs.Reference(source.repository, source.ref, client=client).object(source.path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as dst, obj.reader("rb") as src:
            while chunk := cast(bytes, src.read(CHUNK_BYTES)):  # mode "rb" reads bytes
                dst.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def upload_dataframe(
    client: Client, uri: LakeFSURI | str, frame: pd.DataFrame, metadata: Mapping[str, str] | None = None
) -> ObjectInfo:
    """Write a DataFrame as Parquet to a branch path."""
    target = _uri(uri)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    obj = lakefs.Branch(target.repository, target.ref, client=client).object(target.path)
    obj.upload(
        buffer.getvalue(), mode="wb", content_type=PARQUET_CONTENT_TYPE, metadata=dict(metadata) if metadata else None
    )
    return obj.stat()


def read_dataframe(client: Client, uri: LakeFSURI | str) -> pd.DataFrame:
    """Read a Parquet object at any ref (branch, tag, commit id, ``main~1`` ...)."""
    source = _uri(uri)
    with lakefs.Reference(source.repository, source.ref, client=client).object(source.path).reader("rb") as f:
        return pd.read_parquet(io.BytesIO(cast(bytes, f.read())))


def read_dataframes(
    client: Client,
    repository: str,
    ref: str,
    paths: list[str],
    columns: tuple[str, ...] = ("id", "prompt", "response", "source"),
) -> pd.DataFrame:
    """Parquet objects read at one ref and concatenated (an empty frame with `columns` when `paths` is empty)."""
    frames = [read_dataframe(client, LakeFSURI(repository, ref, path)) for path in paths]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def commit(
    client: Client, repository: str, branch: str, message: str, metadata: Mapping[str, str] | None = None
) -> CommitResult:
    """Commit the branch's uncommitted changes; with nothing to commit, return the head as is."""
    ref = lakefs.Branch(repository, branch, client=client)
    if next(iter(ref.uncommitted(max_amount=1)), None) is None:
        return CommitResult(ref.get_commit().id, created=False)
    created = ref.commit(message, metadata=dict(metadata) if metadata else None)
    return CommitResult(created.id, created=True)


def uncommitted_changes(client: Client, repository: str, branch: str) -> list[Change]:
    return list(lakefs.Branch(repository, branch, client=client).uncommitted())


def diff(client: Client, repository: str, left: str, right: str) -> list[Change]:
    """Committed changes on ``right`` since it diverged from ``left``."""
    return list(lakefs.Reference(repository, left, client=client).diff(right))


def merge_into(
    client: Client,
    repository: str,
    source: str,
    destination: str = "main",
    *,
    message: str | None = None,
    metadata: Mapping[str, str] | None = None,
    squash: bool = False,
) -> CommitResult:
    """Merge ``source`` into ``destination`` (protected branches accept merges).

    Nothing to merge is not an error: the destination's head is returned with ``created=False``.
    A conflict raises ``lakefs.exceptions.ConflictException``.
    """
    dest = lakefs.Branch(repository, destination, client=client)
    if not any(True for _ in lakefs.Reference(repository, destination, client=client).diff(source, max_amount=1)):
        return CommitResult(dest.get_commit().id, created=False)
    kwargs: dict[str, object] = {"squash_merge": squash}
    if message:
        kwargs["message"] = message
    if metadata:
        kwargs["metadata"] = dict(metadata)
    merged = lakefs.Reference(repository, source, client=client).merge_into(dest, **kwargs)
    return CommitResult(merged, created=True)


def tag(client: Client, repository: str, name: str, ref: str, exist_ok: bool = False) -> str:
    """Tag ``ref``'s commit; returns the tagged commit id. With ``exist_ok``, an existing tag on
    the same commit is fine, and one on another commit still raises ``ConflictException``."""
    target = resolve_commit(client, repository, ref)
    new = lakefs.Tag(repository, name, client=client)
    try:
        new.create(target)
    except ConflictException:
        if not exist_ok or new.get_commit().id != target:
            raise
    return target


def resolve_commit(client: Client, repository: str, ref: str) -> str:
    """The commit id behind any ref expression."""
    return lakefs.Reference(repository, ref, client=client).get_commit().id


def object_exists(client: Client, uri: LakeFSURI | str) -> bool:
    """False also when the repository or ref does not exist (the server answers 404 alike)."""
    target = _uri(uri)
    return lakefs.Reference(target.repository, target.ref, client=client).object(target.path).exists()


def _uri(uri: LakeFSURI | str) -> LakeFSURI:
    parsed = LakeFSURI.parse(uri) if isinstance(uri, str) else uri
    if not parsed.path:
        raise ValueError(f"lakeFS URI {str(parsed)!r} names no object path")
    return parsed
