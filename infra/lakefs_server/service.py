"""lakeFS semantics over the metadata store: one method per API operation, one transaction each.

Routes translate HTTP to these calls and back; everything lakeFS decides (which ref a name means,
what a protected branch refuses, when a merge conflicts, what counts as "no changes") is here.

Branch protection: as in lakeFS, nothing is protected until a rule says so (the branch-protection
endpoints). Uploads, deletes and commits on a branch a rule matches answer 403 as lakeFS does, while
merges into it succeed. The data flow sets the rule for `main` when it creates its repository
(`tasks.services.lakefs.ensure_repository`), so real lakeFS gets the same rule from the same call.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from infra.lakefs_server import commits, metaranges, repositories, staging
from infra.lakefs_server.changes import Change, Strategy, three_way_merge
from infra.lakefs_server.commits import Commit
from infra.lakefs_server.db import Database
from infra.lakefs_server.entries import Entry, encode_metadata, same
from infra.lakefs_server.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MergeConflict,
    NotFound,
    NotImplementedByServer,
    PreconditionFailed,
)
from infra.lakefs_server.listing import Item, Page, page_size, paginate
from infra.lakefs_server.metaranges import Tree
from infra.lakefs_server.refs import (
    BRANCH_NAME,
    REPOSITORY_NAME,
    TAG_NAME,
    could_be_commit_prefix,
    parse_ref,
    walk_ancestry,
)
from infra.lakefs_server.repositories import Repository

log = logging.getLogger("lakefs_server")

# What /config/storage advertises and repository creation enforces.
NAMESPACE_PATTERN = re.compile(r"^local://")
# lakeFS refuses to delete more paths than this in one request.
MAX_DELETE_PATHS = 1000
_MAX_CONFLICTS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Resolved:
    commit: Commit
    branch: str | None  # set when the ref is a plain branch name: reads include staged changes


@dataclass(frozen=True, slots=True)
class MergeBase:
    source: Commit
    destination: Commit
    base: Commit | None


def _now() -> int:
    return int(time.time())


FIRST_COMMIT_MESSAGE = "Repository created"


def _metarange(commit: Commit) -> str:
    """The commit's metarange as lakeFS names it: a repository's first commit has none ("")."""
    return "" if not commit.parents and commit.message == FIRST_COMMIT_MESSAGE else commit.tree.id


def _same_metarange(source: Commit, base: Commit | None) -> bool:
    """lakeFS's "no changes" for a merge: the source's metarange is the merge base's (nothing to bring),
    whatever the destination holds; so a source whose tree equals the destination's still merges."""
    return base is not None and _metarange(source) == _metarange(base)


class LakeFSService:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ----------------------------------------------------------------------------- repositories

    def create_repository(
        self,
        name: str,
        storage_namespace: str,
        default_branch: str,
        *,
        read_only: bool = False,
        bare: bool = False,
        sample_data: bool = False,
        storage_id: str = "",
    ) -> Repository:
        if storage_id:
            # lakeFS with one blockstore knows one storage, whose id is ""; others are lakeFS Enterprise's
            raise BadRequest(f"storage id: invalid value {storage_id!r}: this server has one storage, id ''")
        if not REPOSITORY_NAME.fullmatch(name):
            raise BadRequest(f"invalid repository name {name!r}: use 3-63 of a-z, 0-9 and '-'")
        if not NAMESPACE_PATTERN.match(storage_namespace):
            raise BadRequest(f"invalid storage namespace {storage_namespace!r}: must match {NAMESPACE_PATTERN.pattern}")
        if not BRANCH_NAME.fullmatch(default_branch):
            raise BadRequest(f"invalid default branch name {default_branch!r}")
        with self._db.write() as conn:
            if repositories.find(conn, name) is not None:
                raise Conflict(f"repository already exists: {name!r}")  # before anything else, as lakeFS
            if sample_data:
                raise BadRequest("sample data is not supported by this server")
            repo = Repository(
                name=name,
                storage_namespace=storage_namespace,
                default_branch=default_branch,
                creation_date=_now(),
                read_only=read_only,
                metadata={},
                protection_rules=[],
            )
            repositories.insert(conn, repo)
            if not bare:
                initial = commits.create(
                    conn,
                    name,
                    parents=[],
                    tree=metaranges.empty_tree(conn, name),
                    message=FIRST_COMMIT_MESSAGE,
                    metadata={},
                    committer="",
                    creation_date=repo.creation_date,
                )
                self._add_branch(conn, name, default_branch, initial.id)
        return repo

    def get_repository(self, name: str) -> Repository:
        with self._db.read() as conn:
            return repositories.get(conn, name)

    def list_repositories(self, *, prefix: str, after: str, amount: int | None, search: str) -> Page[Repository]:
        size = page_size(amount)
        with self._db.read() as conn:
            rows = repositories.page(conn, after, prefix, search, size + 1)
        return Page([Item(r.name, r) for r in rows[:size]], has_more=len(rows) > size, amount=size)

    def delete_repository(self, name: str, *, force: bool) -> None:
        with self._db.write() as conn:
            repo = repositories.get(conn, name)
            self._check_not_read_only(repo, force)
            repositories.delete(conn, name)
            commits.delete_repository(conn, name)
            staging.delete_repository(conn, name)
            metaranges.delete_repository(conn, name)

    def update_repository_metadata(
        self, name: str, *, set_keys: dict[str, str] | None = None, delete_keys: Sequence[str] = ()
    ) -> None:
        with self._db.write() as conn:
            metadata = dict(repositories.get(conn, name).metadata)
            metadata.update(set_keys or {})
            for key in delete_keys:
                metadata.pop(key, None)
            repositories.set_metadata(conn, name, metadata)

    def set_protection_rules(self, name: str, patterns: list[str], *, if_match: str | None = None) -> None:
        """Replace the rules; with ``if_match``, only if they are still the version with that ETag."""
        with self._db.write() as conn:
            repo = repositories.get(conn, name)
            if if_match is not None and if_match.strip('"') != repo.rules_etag():
                raise PreconditionFailed("branch protection rules changed since they were read")
            repositories.set_protection_rules(conn, name, patterns)

    def add_protection_rule(self, name: str, pattern: str) -> None:
        with self._db.write() as conn:
            rules = repositories.get(conn, name).protection_rules
            if pattern in rules:
                raise Conflict(f"branch protection rule already exists: {pattern!r}")
            repositories.set_protection_rules(conn, name, [*rules, pattern])

    def delete_protection_rule(self, name: str, pattern: str) -> None:
        with self._db.write() as conn:
            rules = repositories.get(conn, name).protection_rules
            if pattern not in rules:
                raise NotFound(f"branch protection rule not found: {pattern!r}")
            repositories.set_protection_rules(conn, name, [p for p in rules if p != pattern])

    # --------------------------------------------------------------------------- branches, tags

    def create_branch(self, repo_name: str, name: str, source: str, *, force: bool, hidden: bool) -> str:
        """Point a new branch at ``source``'s commit: no objects are copied. Returns the commit id."""
        if not BRANCH_NAME.fullmatch(name):
            raise BadRequest(f"invalid branch name {name!r}")
        with self._db.write() as conn:
            repo = repositories.get(conn, repo_name)
            self._check_not_read_only(repo, force)
            if self._branch_commit_id(conn, repo_name, name) is not None:
                raise Conflict(f"branch already exists: {name!r}")
            commit = self._resolve(conn, repo, source).commit
            self._add_branch(conn, repo_name, name, commit.id, hidden=hidden)
            return commit.id

    def get_branch(self, repo_name: str, name: str) -> str:
        with self._db.read() as conn:
            repositories.get(conn, repo_name)
            return self._head(conn, repo_name, name).id

    def list_branches(
        self, repo_name: str, *, prefix: str, after: str, amount: int | None, show_hidden: bool
    ) -> Page[str]:
        hidden_filter = "" if show_hidden else " AND hidden = 0"
        return self._list_pointers(repo_name, "branches", hidden_filter, prefix, after, amount)

    def delete_branch(self, repo_name: str, name: str, *, force: bool) -> None:
        with self._db.write() as conn:
            repo = repositories.get(conn, repo_name)
            self._head(conn, repo_name, name)
            self._check_not_read_only(repo, force)
            if name == repo.default_branch:
                raise Forbidden(f"cannot delete the default branch {name!r}")
            if repo.is_protected(name):
                raise Forbidden(f"cannot delete protected branch {name!r}")
            conn.execute("DELETE FROM branches WHERE repo = ? AND name = ?", (repo_name, name))
            staging.clear(conn, repo_name, name)

    def reset_branch(
        self,
        repo_name: str,
        name: str,
        kind: Literal["object", "common_prefix", "reset"],
        path: str | None,
        *,
        force: bool,
    ) -> None:
        """Throw away uncommitted changes: all of them, one path, or everything under a prefix."""
        if kind != "reset" and not path:
            raise BadRequest(f"reset of type {kind!r} needs a path")
        with self._db.write() as conn:
            self._writable_branch(conn, repo_name, name, force, "write")
            if kind == "object":
                assert path is not None
                staging.remove(conn, repo_name, name, path)
            elif kind == "common_prefix":
                assert path is not None
                staging.clear(conn, repo_name, name, prefix=path)
            else:
                staging.clear(conn, repo_name, name)

    def hard_reset_branch(self, repo_name: str, name: str, ref: str, *, force: bool) -> None:
        with self._db.write() as conn:
            repo, _ = self._writable_branch(conn, repo_name, name, force, "commit")
            self._check_clean(conn, repo_name, name)
            target = self._resolve(conn, repo, ref).commit
            self._move_branch(conn, repo_name, name, target.id)

    def create_tag(self, repo_name: str, name: str, ref: str, *, force: bool) -> str:
        if not TAG_NAME.fullmatch(name):
            raise BadRequest(f"invalid tag name {name!r}")
        with self._db.write() as conn:
            repo = repositories.get(conn, repo_name)
            self._check_not_read_only(repo, force)
            commit = self._resolve(conn, repo, ref).commit
            if self._tag_commit_id(conn, repo_name, name) is not None and not force:
                raise Conflict(f"tag already exists: {name!r}")
            conn.execute("INSERT OR REPLACE INTO tags VALUES (?, ?, ?)", (repo_name, name, commit.id))
            return commit.id

    def get_tag(self, repo_name: str, name: str) -> str:
        with self._db.read() as conn:
            repositories.get(conn, repo_name)
            commit_id = self._tag_commit_id(conn, repo_name, name)
        if commit_id is None:
            raise NotFound(f"tag not found: {name!r}")
        return commit_id

    def list_tags(self, repo_name: str, *, prefix: str, after: str, amount: int | None) -> Page[str]:
        return self._list_pointers(repo_name, "tags", "", prefix, after, amount)

    def delete_tag(self, repo_name: str, name: str, *, force: bool) -> None:
        with self._db.write() as conn:
            repo = repositories.get(conn, repo_name)
            self._check_not_read_only(repo, force)
            if self._tag_commit_id(conn, repo_name, name) is None:
                raise NotFound(f"tag not found: {name!r}")
            conn.execute("DELETE FROM tags WHERE repo = ? AND name = ?", (repo_name, name))

    # ------------------------------------------------------------------------------------ objects

    def check_upload_allowed(self, repo_name: str, branch: str, path: str, *, force: bool) -> None:
        """Refuse an upload before its body is read (400, 404, 403), so a rejected one costs nothing."""
        _check_path(path)
        with self._db.read() as conn:
            self._writable_branch(conn, repo_name, branch, force, "write")

    def stage_object(
        self,
        repo_name: str,
        branch: str,
        path: str,
        entry: Entry,
        *,
        force: bool,
        if_none_match: str | None = None,
        if_match: str | None = None,
    ) -> Entry:
        _check_path(path)
        if if_none_match not in (None, "*"):
            raise NotImplementedByServer("If-None-Match supports only '*'")
        with self._db.write() as conn:
            _, head = self._writable_branch(conn, repo_name, branch, force, "write")
            if if_none_match or if_match:
                current = self._visible(conn, repo_name, branch, head, path)
                if if_none_match and current is not None:
                    raise PreconditionFailed(f"object already exists: {path!r}")
                if if_match and (current is None or current.checksum != if_match.strip('"')):
                    raise PreconditionFailed(f"object {path!r} does not match ETag {if_match}")
            staging.put(conn, repo_name, branch, path, entry)
        return entry

    def stat_object(self, repo_name: str, ref: str, path: str) -> Entry:
        with self._db.read() as conn:
            repo = repositories.get(conn, repo_name)
            return self._entry_at(conn, repo, self._resolve(conn, repo, ref), path)

    def list_objects(
        self, repo_name: str, ref: str, *, prefix: str, delimiter: str, after: str, amount: int | None
    ) -> Page[Entry | None]:
        with self._db.read() as conn:
            repo = repositories.get(conn, repo_name)
            resolved = self._resolve(conn, repo, ref)
            # Read once per page: a listing with a delimiter restarts the view at each group.
            ranges = metaranges.ranges_of(conn, resolved.commit.tree.pk)
            return paginate(
                lambda start: self._view(conn, repo_name, resolved, ranges, start),
                prefix=prefix,
                delimiter=delimiter,
                after=after,
                amount=amount,
            )

    def delete_objects(self, repo_name: str, branch: str, paths: Sequence[str], *, force: bool) -> None:
        """Stage deletions. Paths that do not exist are fine, as in lakeFS."""
        if len(paths) > MAX_DELETE_PATHS:
            raise BadRequest(f"too many paths: at most {MAX_DELETE_PATHS} per request")
        for path in paths:
            _check_path(path)
        with self._db.write() as conn:
            _, head = self._writable_branch(conn, repo_name, branch, force, "write")
            for path in paths:
                if metaranges.lookup(conn, head.tree.pk, path) is None:
                    staging.remove(conn, repo_name, branch, path)  # only staged: just forget it
                else:
                    staging.put(conn, repo_name, branch, path, None)

    def copy_object(
        self, repo_name: str, branch: str, dest_path: str, src_path: str, src_ref: str | None, *, force: bool
    ) -> Entry:
        """Copy by reference: the new entry points at the same blob (content-addressed)."""
        _check_path(dest_path)
        with self._db.write() as conn:
            repo, _ = self._writable_branch(conn, repo_name, branch, force, "write")
            source = self._entry_at(conn, repo, self._resolve(conn, repo, src_ref or branch), src_path)
            entry = dataclasses.replace(source, mtime=_now())
            staging.put(conn, repo_name, branch, dest_path, entry)
            return entry

    def set_user_metadata(self, repo_name: str, branch: str, path: str, metadata: dict[str, str]) -> None:
        with self._db.write() as conn:
            _, head = self._writable_branch(conn, repo_name, branch, False, "write")
            current = self._visible(conn, repo_name, branch, head, path)
            if current is None:
                raise NotFound(f"object not found: {path!r}")
            staging.put(conn, repo_name, branch, path, dataclasses.replace(current, metadata=encode_metadata(metadata)))

    # ------------------------------------------------------------------------------------ commits

    def commit(
        self,
        repo_name: str,
        branch: str,
        *,
        message: str,
        metadata: dict[str, str],
        committer: str,
        date: int | None = None,
        allow_empty: bool = False,
        force: bool = False,
    ) -> Commit:
        """Fold the branch's staged changes into a new tree and commit it, atomically."""
        if not message:
            raise BadRequest("commit message is required")
        with self._db.write() as conn:
            _, head = self._writable_branch(conn, repo_name, branch, force, "commit")
            changes = staging.all_changes(conn, repo_name, branch)
            log.info("commit started: repository=%s branch=%s staged=%d", repo_name, branch, len(changes))
            tree, applied = metaranges.apply(conn, repo_name, head.tree, changes)
            if not applied and not allow_empty:
                raise BadRequest("commit: no changes")
            commit = commits.create(
                conn,
                repo_name,
                parents=[head.id],
                tree=tree,
                message=message,
                metadata=metadata,
                committer=committer,
                creation_date=date if date is not None else _now(),
            )
            self._move_branch(conn, repo_name, branch, commit.id)
            staging.clear(conn, repo_name, branch)
        log.info("commit done: repository=%s branch=%s id=%s changes=%d", repo_name, branch, commit.id, applied)
        return commit

    def get_commit(self, repo_name: str, ref: str) -> Commit:
        with self._db.read() as conn:
            repo = repositories.get(conn, repo_name)
            return self._resolve(conn, repo, ref).commit

    def log_commits(
        self,
        repo_name: str,
        ref: str,
        *,
        after: str,
        amount: int | None,
        objects: Sequence[str] = (),
        prefixes: Sequence[str] = (),
        first_parent: bool = False,
        since: int | None = None,
        stop_at: str | None = None,
        limit: bool = False,
    ) -> Page[Commit]:
        """History from ``ref``, newest first, optionally only commits touching given paths.

        With ``limit`` the page is the last: at most ``amount`` commits and no more to follow, as
        lakeFS answers (a client asking for 10 of at most 100 gets 10)."""
        size = page_size(amount)
        found: list[Commit] = []
        with self._db.read() as conn:
            repo = repositories.get(conn, repo_name)
            start = self._resolve(conn, repo, ref).commit
            stop_id = self._resolve(conn, repo, stop_at).commit.id if stop_at else None
            skipping = bool(after)
            for commit in commits.walk(conn, repo_name, start, first_parent=first_parent):
                if since is not None and commit.creation_date < since:
                    break
                if skipping:
                    skipping = commit.id != after
                elif not (objects or prefixes) or self._touches(conn, repo_name, commit, objects, prefixes):
                    found.append(commit)
                    if len(found) > size or (limit and len(found) == size):
                        break
                if commit.id == stop_id:
                    break
        return Page([Item(c.id, c) for c in found[:size]], has_more=len(found) > size, amount=size)

    # ---------------------------------------------------------------------------------------- diff

    def diff_branch(
        self, repo_name: str, branch: str, *, prefix: str, delimiter: str, after: str, amount: int | None
    ) -> Page[Change | None]:
        """The branch's uncommitted changes against its head commit."""
        with self._db.read() as conn:
            repositories.get(conn, repo_name)
            head = self._head(conn, repo_name, branch)

            def source(start: str) -> Iterator[tuple[str, Change]]:
                for path, staged in staging.iter_staged(conn, repo_name, branch, start):
                    committed = metaranges.lookup(conn, head.tree.pk, path)
                    if not same(committed, staged):
                        yield path, Change(path, committed, staged)

            return paginate(source, prefix=prefix, delimiter=delimiter, after=after, amount=amount)

    def diff_refs(
        self,
        repo_name: str,
        left: str,
        right: str,
        *,
        three_dot: bool,
        prefix: str,
        delimiter: str,
        after: str,
        amount: int | None,
    ) -> Page[Change | None]:
        """Committed changes from ``left`` to ``right``; with ``three_dot``, only those made on
        ``right`` since it diverged from ``left`` (diffing from their merge base)."""
        with self._db.read() as conn:
            repo = repositories.get(conn, repo_name)
            left_commit = self._resolve(conn, repo, left).commit
            right_commit = self._resolve(conn, repo, right).commit
            base = commits.merge_base(conn, repo_name, left_commit, right_commit) if three_dot else None
            # Computed once per page: a listing with a delimiter restarts the diff at each group.
            only_left, only_right = metaranges.unshared_ranges(conn, (base or left_commit).tree, right_commit.tree)
            return paginate(
                lambda start: ((c.path, c) for c in metaranges.diff_ranges(conn, only_left, only_right, start)),
                prefix=prefix,
                delimiter=delimiter,
                after=after,
                amount=amount,
            )

    # ------------------------------------------------------------------------------------ merging

    def find_merge_base(self, repo_name: str, source_ref: str, destination: str) -> MergeBase:
        with self._db.read() as conn:
            repo = repositories.get(conn, repo_name)
            source = self._resolve(conn, repo, source_ref).commit
            dest = self._resolve(conn, repo, destination).commit
            return MergeBase(source, dest, commits.merge_base(conn, repo_name, source, dest))

    def merge(
        self,
        repo_name: str,
        source_ref: str,
        dest_branch: str,
        *,
        committer: str,
        message: str | None = None,
        metadata: dict[str, str] | None = None,
        strategy: str | None = None,
        force: bool = False,
        allow_empty: bool = False,
        squash: bool = False,
    ) -> Commit:
        """Merge ``source_ref`` into ``dest_branch`` with a merge commit, as lakeFS does.

        If the destination has not moved since the source branched off (the fast-forward case)
        the merged tree is the source's tree, taken as is; otherwise changes are combined three
        ways from the merge base. Protected branches accept merges.
        """
        chosen = _strategy(strategy)
        with self._db.write() as conn:
            repo = repositories.get(conn, repo_name)
            self._check_not_read_only(repo, force)
            dest = self._head(conn, repo_name, dest_branch)
            self._check_clean(conn, repo_name, dest_branch)
            source = self._resolve(conn, repo, source_ref).commit
            base = commits.merge_base(conn, repo_name, source, dest)
            if base is not None and base.id == source.id:
                tree = dest.tree  # already merged
            elif base is not None and base.id == dest.id:
                tree = source.tree
            else:
                base_tree = base.tree if base is not None else metaranges.empty_tree(conn, repo_name)
                tree = self._combine(conn, repo_name, base_tree, source.tree, dest.tree, chosen)
            if _same_metarange(source, base) and not (allow_empty or force):
                raise BadRequest("no changes")
            commit = commits.create(
                conn,
                repo_name,
                parents=[dest.id] if squash else [dest.id, source.id],
                tree=tree,
                message=message or f"Merge '{source_ref}' into '{dest_branch}'",
                metadata=metadata or {},
                committer=committer,
                creation_date=_now(),
            )
            self._move_branch(conn, repo_name, dest_branch, commit.id)
            return commit

    def revert(
        self,
        repo_name: str,
        branch: str,
        ref: str,
        parent_number: int,
        *,
        committer: str,
        message: str | None = None,
        metadata: dict[str, str] | None = None,
        force: bool = False,
        allow_empty: bool = False,
    ) -> Commit:
        """Commit the inverse of ``ref``'s changes (relative to one of its parents) onto ``branch``."""
        with self._db.write() as conn:
            repo, head = self._writable_branch(conn, repo_name, branch, force, "commit")
            self._check_clean(conn, repo_name, branch)
            target = self._resolve(conn, repo, ref).commit
            if not target.parents:
                raise BadRequest(f"cannot revert {ref!r}: it has no parent")
            parent = self._parent(conn, repo_name, target, parent_number)
            tree = self._combine(conn, repo_name, target.tree, parent.tree, head.tree, None)
            if tree.pk == head.tree.pk and not allow_empty:
                raise BadRequest("no changes")
            return self._commit_onto(
                conn, repo_name, branch, head, tree, committer, message or f"Revert {target.id}", metadata or {}
            )

    def cherry_pick(
        self,
        repo_name: str,
        branch: str,
        ref: str,
        parent_number: int | None,
        *,
        committer: str,
        message: str | None = None,
        metadata: dict[str, str] | None = None,
        force: bool = False,
    ) -> Commit:
        """Replay ``ref``'s changes (relative to one of its parents) as a new commit on ``branch``."""
        with self._db.write() as conn:
            repo, head = self._writable_branch(conn, repo_name, branch, force, "commit")
            self._check_clean(conn, repo_name, branch)
            target = self._resolve(conn, repo, ref).commit
            if target.parents:
                base_tree = self._parent(conn, repo_name, target, parent_number or 0).tree
            else:
                base_tree = metaranges.empty_tree(conn, repo_name)
            tree = self._combine(conn, repo_name, base_tree, target.tree, head.tree, None)
            if tree.pk == head.tree.pk:
                raise BadRequest("no changes")
            return self._commit_onto(
                conn,
                repo_name,
                branch,
                head,
                tree,
                committer,
                message or target.message,
                # as lakeFS: the picked commit's metadata (or the caller's), then where it came from
                {
                    **(metadata if metadata is not None else target.metadata),
                    "cherry-pick-origin": target.id,
                    "cherry-pick-committer": target.committer,
                },
            )

    # ------------------------------------------------------------------------------------ helpers

    def _resolve(self, conn: sqlite3.Connection, repo: Repository, expr: str) -> Resolved:
        ref = parse_ref(expr)
        branch_head = self._branch_commit_id(conn, repo.name, ref.base)
        base_id = branch_head or self._tag_commit_id(conn, repo.name, ref.base)
        if base_id is None and could_be_commit_prefix(ref.base):
            matches = commits.ids_with_prefix(conn, repo.name, ref.base)
            if len(matches) > 1:
                raise BadRequest(f"ambiguous ref {expr!r}: several commits start with {ref.base!r}")
            base_id = matches[0] if matches else None
        if base_id is None:
            raise NotFound(f"ref not found: {expr!r}")

        def parents_of(commit_id: str) -> tuple[str, ...]:
            return self._commit(conn, repo.name, commit_id).parents

        commit_id = walk_ancestry(base_id, ref.modifiers, parents_of, expr)
        is_branch = branch_head is not None and ref.is_plain
        return Resolved(self._commit(conn, repo.name, commit_id), ref.base if is_branch else None)

    @staticmethod
    def _commit(conn: sqlite3.Connection, repo_name: str, commit_id: str) -> Commit:
        commit = commits.get(conn, repo_name, commit_id)
        if commit is None:
            raise NotFound(f"commit not found: {commit_id!r}")
        return commit

    def _parent(self, conn: sqlite3.Connection, repo_name: str, commit: Commit, parent_number: int) -> Commit:
        """lakeFS numbers parents from 1; 0 is accepted for a commit with a single parent."""
        if len(commit.parents) == 1 and parent_number in (0, 1):
            return self._commit(conn, repo_name, commit.parents[0])
        if not 1 <= parent_number <= len(commit.parents):
            raise BadRequest(
                f"commit {commit.id} has {len(commit.parents)} parents: parent number {parent_number} is invalid"
            )
        return self._commit(conn, repo_name, commit.parents[parent_number - 1])

    @staticmethod
    def _branch_commit_id(conn: sqlite3.Connection, repo_name: str, name: str) -> str | None:
        row = conn.execute("SELECT commit_id FROM branches WHERE repo = ? AND name = ?", (repo_name, name)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _tag_commit_id(conn: sqlite3.Connection, repo_name: str, name: str) -> str | None:
        row = conn.execute("SELECT commit_id FROM tags WHERE repo = ? AND name = ?", (repo_name, name)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _add_branch(conn: sqlite3.Connection, repo_name: str, name: str, commit_id: str, hidden: bool = False) -> None:
        conn.execute("INSERT INTO branches VALUES (?, ?, ?, ?)", (repo_name, name, commit_id, int(hidden)))

    @staticmethod
    def _move_branch(conn: sqlite3.Connection, repo_name: str, name: str, commit_id: str) -> None:
        conn.execute("UPDATE branches SET commit_id = ? WHERE repo = ? AND name = ?", (commit_id, repo_name, name))

    def _head(self, conn: sqlite3.Connection, repo_name: str, branch: str) -> Commit:
        commit_id = self._branch_commit_id(conn, repo_name, branch)
        if commit_id is None:
            raise NotFound(f"branch not found: {branch!r}")
        return self._commit(conn, repo_name, commit_id)

    def _list_pointers(
        self,
        repo_name: str,
        table: Literal["branches", "tags"],
        extra_filter: str,
        prefix: str,
        after: str,
        amount: int | None,
    ) -> Page[str]:
        size = page_size(amount)
        with self._db.read() as conn:
            repositories.get(conn, repo_name)
            rows = conn.execute(
                f"SELECT name, commit_id FROM {table} WHERE repo = ? AND name > ? AND substr(name, 1, ?) = ?"
                f"{extra_filter} ORDER BY name LIMIT ?",
                (repo_name, after, len(prefix), prefix, size + 1),
            ).fetchall()
        return Page([Item(name, commit_id) for name, commit_id in rows[:size]], has_more=len(rows) > size, amount=size)

    @staticmethod
    def _check_not_read_only(repo: Repository, force: bool) -> None:
        if repo.read_only and not force:
            raise Forbidden(f"repository {repo.name!r} is read-only")

    def _writable_branch(
        self, conn: sqlite3.Connection, repo_name: str, branch: str, force: bool, action: Literal["write", "commit"]
    ) -> tuple[Repository, Commit]:
        repo = repositories.get(conn, repo_name)
        head = self._head(conn, repo_name, branch)
        self._check_not_read_only(repo, force)
        if repo.is_protected(branch):
            raise Forbidden(f"cannot {action} to protected branch {branch!r}")
        return repo, head

    @staticmethod
    def _check_clean(conn: sqlite3.Connection, repo_name: str, branch: str) -> None:
        if staging.is_dirty(conn, repo_name, branch):
            raise BadRequest(f"branch {branch!r} has uncommitted changes (dirty branch)")

    @staticmethod
    def _visible(conn: sqlite3.Connection, repo_name: str, branch: str, head: Commit, path: str) -> Entry | None:
        staged, entry = staging.get(conn, repo_name, branch, path)
        return entry if staged else metaranges.lookup(conn, head.tree.pk, path)

    def _entry_at(self, conn: sqlite3.Connection, repo: Repository, resolved: Resolved, path: str) -> Entry:
        if resolved.branch is not None:
            entry = self._visible(conn, repo.name, resolved.branch, resolved.commit, path)
        else:
            entry = metaranges.lookup(conn, resolved.commit.tree.pk, path)
        if entry is None:
            raise NotFound(f"object not found: {path!r}")
        return entry

    @staticmethod
    def _view(
        conn: sqlite3.Connection, repo_name: str, resolved: Resolved, ranges: Sequence[metaranges.RangeInfo], start: str
    ) -> Iterator[tuple[str, Entry]]:
        """What ``resolved`` shows from ``start`` on: its commit's entries, and for a branch its
        staged changes over them."""
        committed = metaranges.iter_ranges(conn, ranges, start)
        if resolved.branch is None:
            return committed
        return staging.overlay(committed, staging.iter_staged(conn, repo_name, resolved.branch, start))

    @staticmethod
    def _combine(
        conn: sqlite3.Connection, repo_name: str, base: Tree, source: Tree, dest: Tree, strategy: Strategy | None
    ) -> Tree:
        """``dest`` plus the changes ``source`` made since ``base``; MergeConflict if both changed a path."""
        outcome = three_way_merge(metaranges.diff(conn, base, source), metaranges.diff(conn, base, dest), strategy)
        if outcome.conflicts:
            shown = ", ".join(repr(p) for p in outcome.conflicts[:_MAX_CONFLICTS_SHOWN])
            more = len(outcome.conflicts) - _MAX_CONFLICTS_SHOWN
            raise MergeConflict(f"conflict found: {shown}" + (f" and {more} more" if more > 0 else ""))
        tree, _ = metaranges.apply(conn, repo_name, dest, outcome.to_apply)
        return tree

    def _commit_onto(
        self,
        conn: sqlite3.Connection,
        repo_name: str,
        branch: str,
        head: Commit,
        tree: Tree,
        committer: str,
        message: str,
        metadata: dict[str, str],
    ) -> Commit:
        commit = commits.create(
            conn,
            repo_name,
            parents=[head.id],
            tree=tree,
            message=message,
            metadata=metadata,
            committer=committer,
            creation_date=_now(),
        )
        self._move_branch(conn, repo_name, branch, commit.id)
        return commit

    @staticmethod
    def _touches(
        conn: sqlite3.Connection, repo_name: str, commit: Commit, objects: Sequence[str], prefixes: Sequence[str]
    ) -> bool:
        """Did ``commit`` change any of ``objects`` or anything under ``prefixes`` (vs. its first parent)?"""
        parent = commits.get(conn, repo_name, commit.parents[0]) if commit.parents else None

        def before(path: str) -> Entry | None:
            return metaranges.lookup(conn, parent.tree.pk, path) if parent else None

        if any(not same(before(p), metaranges.lookup(conn, commit.tree.pk, p)) for p in objects):
            return True
        for prefix in prefixes:
            if parent is None:
                changes: Iterator[tuple[str, object]] = metaranges.iter_tree(conn, commit.tree.pk, prefix)
            else:
                changes = ((c.path, c) for c in metaranges.diff(conn, parent.tree, commit.tree, prefix))
            first = next(changes, None)
            if first is not None and first[0].startswith(prefix):
                return True
        return False


def _strategy(value: str | None) -> Strategy | None:
    if not value:
        return None
    if value not in ("dest-wins", "source-wins"):
        raise BadRequest(f"invalid merge strategy {value!r}: use 'dest-wins' or 'source-wins'")
    return value  # type: ignore[return-value]


def _check_path(path: str) -> None:
    if not path:
        raise BadRequest("object path is required")
