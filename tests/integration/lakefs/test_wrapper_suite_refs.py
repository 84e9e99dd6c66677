"""lakeFS's own Python-wrapper integration suite, restated against the embedded server.

The upstream suite lives in treeverse/lakeFS under ``clients/python-wrapper/tests/integration``
(``test_branch.py``, ``test_reference.py``, ``test_repository.py``, ``test_sanity.py`` and
``test_import.py``). CI cannot fetch it, so each of its cases is restated here, one test per upstream
case and per parametrization, with the same operations and the same expected values and exceptions.
Each test's docstring names the upstream case it restates.

Upstream relies on a default client configured from the environment; here every object is bound to
the session's server through ``client=lakefs_client``. Upstream's session-scoped setups (a branch
with 199 commits, a repository with 200 branches and 200 tags) are module-scoped fixtures here.
Cases that need a feature of real lakeFS the embedded server does not have are kept, but skipped
with a reason naming that feature.
"""

from __future__ import annotations

import re
import ssl
import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

import lakefs
import pytest
from lakefs.client import Client
from lakefs.exceptions import (
    BadRequestException,
    ConflictException,
    ImportManagerException,
    NotFoundException,
    ObjectNotFoundException,
    TransactionException,
)

from infra.lakefs_server.runner import ServerProcess

try:  # the generated SDK validates its models with pydantic's v1 API where pydantic 2 is installed
    from pydantic.v1 import ValidationError
except ImportError:  # pragma: no cover - pydantic 1
    from pydantic import ValidationError  # type: ignore[assignment]

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:.* is deprecated:DeprecationWarning")]

NO_IMPORTS = (
    "imports from object storage: a feature of real lakeFS on S3/GCS/Azure that the embedded server does not have"
)

# Nine paths, in the lexicographic order lakeFS lists them in.
NINE_PATHS = ["a", "b", "bar/a", "bar/b", "bar/c", "c", "foo/a", "foo/b", "foo/c"]
TOP_LEVEL_PATHS = ["a", "b", "bar/a", "bar/b", "bar/c", "c"]
FOO_PATHS = ["foo/a", "foo/b", "foo/c"]

HISTORY_COMMITS = 199  # commits on the branch of ``branch_with_commits``
LISTING_PREFIXES = 10  # prefixes of the branches and tags of ``repo_with_branches_and_tags``
LISTING_PER_PREFIX = 20  # branches (and tags) under each of those prefixes


def raises(exc: type[BaseException], text: str | None = None) -> AbstractContextManager[Any]:
    """Expect ``exc``, whose message, when ``text`` is given, contains ``text``."""
    return pytest.raises(exc, match=None if text is None else re.escape(text))


def upload_each(branch: lakefs.Branch, paths: Iterable[str], repeat: int = 1) -> None:
    """Write each path with its own name (repeated ``repeat`` times) as content."""
    for path in paths:
        branch.object(path).upload(path * repeat)


def assert_uncommitted(
    branch: lakefs.Branch, expected: list[str], change_type: str = "added", prefix: str = ""
) -> None:
    """The branch's uncommitted changes (read in pages of 10) are exactly ``expected``, in order, all of one type."""
    changes = list(branch.uncommitted(max_amount=10, prefix=prefix))
    assert [change.path for change in changes] == expected
    for change in changes:
        assert change.path_type == "object"
        assert change.type == change_type
        assert change.size_bytes == (0 if change_type == "removed" else len(change.path))


def new_repository(client: Client, base: str, storage_namespace: str | None = None) -> lakefs.Repository:
    name = f"{base}-{uuid.uuid4().hex[:10]}"
    return lakefs.Repository(name, client=client).create(storage_namespace=storage_namespace or f"local://{name}")


@pytest.fixture
def storage_namespace(request: pytest.FixtureRequest) -> str:
    """A fresh namespace named after the test, as upstream derives one from the test's name."""
    test_name = re.sub(r"[_\[\]]", "-", request.node.name.lower())
    return f"local://{uuid.uuid1()}/{test_name}"


@pytest.fixture(scope="module")
def branch_with_commits(lakefs_client: Client) -> lakefs.Branch:
    """Branch ``test_branch`` off ``main`` with 199 commits that alternately write and delete ``test1``.

    The newest commit is ``commit 0`` and the oldest ``commit 198``; the newest one holds ``test1``.
    """
    repo = new_repository(lakefs_client, "branch-with-commits")
    branch = repo.branch("test_branch").create("main")
    for i in range(HISTORY_COMMITS):
        target = branch.object("test1")
        if i % 2 == 0:
            target.upload("test_data")
        else:
            target.delete()
        branch.commit(f"commit {HISTORY_COMMITS - 1 - i}")
    return branch


@pytest.fixture(scope="module")
def repo_with_branches_and_tags(lakefs_client: Client) -> lakefs.Repository:
    """A repository with branches ``branchesII-JJ`` and tags ``tagsII-JJ`` (I < 10, J < 20) besides ``main``."""
    repo = new_repository(lakefs_client, "branches-and-tags")
    for i in range(LISTING_PREFIXES):
        for j in range(LISTING_PER_PREFIX):
            created = repo.branch(f"branches{i:02d}-{j:02d}").create("main")
            repo.tag(tag_id=f"tags{i:02d}-{j:02d}").create(created)
    return repo


# ---------------------------------------------------------------------------------------------------------------------
# test_branch.py


def test_revert(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_branch.py::test_revert."""
    main = plain_repo.branch("main")
    main.object("test_object").upload("test_content")
    main.commit("test_commit", {"test_key": "test_value"})
    target = main.object("test_object").upload("override_test_content")
    main.commit("override_data")
    with target.reader(mode="r") as reader:
        assert reader.read() == "override_test_content"

    reverted = main.revert(main.head)
    assert reverted.message.startswith("Revert")
    with target.reader(mode="r") as reader:
        assert reader.read() == "test_content"


@pytest.mark.parametrize("hidden", [True, False])
def test_cherry_pick(plain_repo: lakefs.Repository, hidden: bool) -> None:
    """lakeFS wrapper suite: test_branch.py::test_cherry_pick."""
    main = plain_repo.branch("main")
    feature = plain_repo.branch("testest").create("main", hidden=hidden)
    feature.object("test_object").upload("test_content")
    source_commit = feature.commit("test_commit", {"test_key": "test_value"}).get_commit()

    picked = main.cherry_pick(feature.head)
    assert feature.object("test_object").exists()
    # A cherry-pick is a new commit: its id differs, its message is the picked one's.
    assert picked.message == source_commit.message
    # lakeFS adds its own keys (origin, source ref) to the user's metadata, which must all survive.
    assert set(source_commit.metadata.items()) <= set(picked.metadata.items())
    assert picked.metadata["cherry-pick-origin"] == source_commit.id


def test_reset_changes(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_branch.py::test_reset_changes."""
    main = plain_repo.branch("main")
    upload_each(main, NINE_PATHS)
    assert_uncommitted(main, NINE_PATHS)
    assert_uncommitted(main, ["bar/a", "bar/b", "bar/c"], prefix="bar")

    without_bar_a = ["a", "b", "bar/b", "bar/c", "c", "foo/a", "foo/b", "foo/c"]
    main.reset_changes("object", "bar/a")
    assert_uncommitted(main, without_bar_a)
    # "bar/" names no object, so resetting it as one changes nothing.
    main.reset_changes("object", "bar/")
    assert_uncommitted(main, without_bar_a)

    main.reset_changes("common_prefix", "foo/")
    assert_uncommitted(main, ["a", "b", "bar/b", "bar/c", "c"])
    main.reset_changes()
    assert_uncommitted(main, [])


def test_delete_object_changes(plain_repo: lakefs.Repository, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_branch.py::test_delete_object_changes."""
    main = plain_repo.branch("main")
    upload_each(main, NINE_PATHS)
    main.commit("add some files", {"test_key": "test_value"})

    main.delete_objects("foo/a")  # one path
    assert_uncommitted(main, ["foo/a"], "removed")
    main.delete_objects({"foo/b", "foo/c"})  # a set of paths
    assert_uncommitted(main, FOO_PATHS, "removed")
    again = lakefs.Repository(main.repo_id, client=lakefs_client)
    head = again.ref(main.head)
    main.delete_objects([head.object("a"), head.object("b")])  # stored objects
    assert_uncommitted(main, ["a", "b", *FOO_PATHS], "removed")

    with raises(ValidationError):
        main.reset_changes("unknown", "foo/")


def test_transaction(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_branch.py::test_transaction."""
    main = plain_repo.branch("main")
    with main.transact(commit_message="my transaction", commit_metadata={"foo": "bar"}) as tx:
        assert tx.get_commit().id == main.head.id
        listed = list(plain_repo.branches())  # the transaction's branch is hidden from listings
        assert len(listed) == 1
        assert tx.id not in [branch.id for branch in listed]
        upload_each(tx, TOP_LEVEL_PATHS)
        upload_each(tx, FOO_PATHS)
        tx.reset_changes(path_type="common_prefix", path="foo")
        first_tx_id = tx.id

    assert not list(plain_repo.tags())
    with raises(NotFoundException):  # the transaction's branch is gone
        plain_repo.branch(tx.id).get_commit()

    merge, transaction_commit = list(main.log(amount=2))[:2]  # amount is the page size, not a limit
    assert merge.message == f"Merge transaction {first_tx_id} to branch"
    assert transaction_commit.message == "my transaction"
    assert transaction_commit.metadata.get("foo") == "bar"
    for path in TOP_LEVEL_PATHS:
        assert main.object(path).exists()
    for path in FOO_PATHS:
        assert not main.object(path).exists()

    # A transaction whose changes are all reset commits nothing.
    with (
        raises(TransactionException, "no changes"),
        main.transact(commit_message="my transaction", commit_metadata={"foo": "bar"}) as tx,
    ):
        assert tx.get_commit().id == main.head.id
        upload_each(tx, FOO_PATHS)
        tx.reset_changes()
    newest = next(iter(main.log(amount=1)))
    assert newest.message == f"Merge transaction {first_tx_id} to branch"

    # Neither does an empty one, and its branch is deleted all the same.
    with raises(TransactionException, "no changes"), main.transact(commit_message="my transaction") as tx:
        pass
    with raises(NotFoundException):
        tx.get_commit()


@pytest.mark.parametrize("cleanup_branch", [True, False])
def test_transaction_failure(plain_repo: lakefs.Repository, cleanup_branch: bool) -> None:
    """lakeFS wrapper suite: test_branch.py::test_transaction_failure."""
    new_paths = ["a", "b", "bar/a", "bar/b"]
    main = plain_repo.branch("main")
    before = main.get_commit()

    # The body raises: the exception propagates and nothing is merged.
    with (
        raises(ValueError, "Something bad happened"),
        main.transact(commit_message="my transaction", delete_branch_on_error=cleanup_branch) as tx,
    ):
        upload_each(tx, new_paths)
        raise ValueError("Something bad happened")
    if not cleanup_branch:
        assert tx.get_commit()
    assert main.get_commit() == before

    # The source branch has uncommitted changes when the transaction merges.
    with raises(TransactionException, "dirty branch"), main.transact(commit_message="my transaction") as tx:
        assert tx.get_commit().id == main.head.id
        upload_each(tx, new_paths)
        upload_each(main, FOO_PATHS, 2)
    if not cleanup_branch:
        assert tx.get_commit()
    assert main.get_commit() == before

    # The source branch moves on with conflicting content while the transaction runs.
    with raises(TransactionException, "Conflict"), main.transact(commit_message="my transaction") as tx:
        moved = main.commit(message="test branch commit")
        upload_each(tx, FOO_PATHS)
    with raises(NotFoundException):
        assert tx.get_commit()
    assert main.get_commit() == moved.get_commit()


def test_transaction_with_tag(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_branch.py::test_transaction_with_tag."""
    main = plain_repo.branch("main")
    with main.transact(commit_message="my transaction with tag", tag="v1.0.0") as tx:
        assert tx.tag == "v1.0.0"
        upload_each(tx, TOP_LEVEL_PATHS)
    assert plain_repo.tag("v1.0.0").get_commit() == main.get_commit()


def test_transaction_with_explicit_none_tag(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_branch.py::test_transaction_with_explicit_none_tag."""
    main = plain_repo.branch("main")
    with main.transact(commit_message="my transaction with tag", tag=None) as tx:
        assert tx.tag is None
        upload_each(tx, TOP_LEVEL_PATHS)
    assert not list(plain_repo.tags())


def test_transaction_with_existing_tag(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_branch.py::test_transaction_with_existing_tag."""
    main = plain_repo.branch("main")
    main.object("initial_file").upload("initial content")
    plain_repo.tag("v1.0.0").create(main.commit("initial commit"))

    with (
        raises(ConflictException, "tag already exists"),
        main.transact(commit_message="my transaction with existing tag", tag="v1.0.0") as tx,
    ):
        upload_each(tx, TOP_LEVEL_PATHS)
    with raises(NotFoundException):  # the transaction's branch is gone
        plain_repo.branch(tx.id).get_commit()


# ---------------------------------------------------------------------------------------------------------------------
# test_reference.py


def test_reference_log(branch_with_commits: lakefs.Branch) -> None:
    """lakeFS wrapper suite: test_reference.py::test_reference_log."""
    branch = branch_with_commits
    assert [c.message for c in branch.log(max_amount=HISTORY_COMMITS)] == [
        f"commit {i}" for i in range(HISTORY_COMMITS)
    ]

    everything = list(branch.log(max_amount=2000))
    assert len(everything) == HISTORY_COMMITS + 1  # and the repository's first commit
    assert [c.message for c in everything[:-1]] == [f"commit {i}" for i in range(HISTORY_COMMITS)]

    assert len(list(branch.log(limit=True, amount=10, max_amount=100))) == 10


def test_reference_diff(branch_with_commits: lakefs.Branch, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_reference.py::test_reference_diff."""
    branch = branch_with_commits
    newest, previous = branch.log(max_amount=2)
    assert not list(branch.diff(branch.get_commit().id))
    assert not list(branch.diff(newest.id, type="two_dot"))

    changes = list(branch.diff(previous.id, type="two_dot"))  # the previous commit deleted test1
    assert len(changes) == 1
    assert changes[0].path == "test1"
    assert changes[0].type == "removed"

    other = lakefs.Repository(branch.repo_id, client=lakefs_client).branch("other_branch").create("test_branch")
    other.object("prefix1/test1").upload(data="data1")
    other.object("prefix2/test2").upload(data="data2")
    other.commit("other commit")

    assert len(list(branch.diff(other))) == 2
    changes = list(branch.diff(other, prefix="prefix2"))
    assert len(changes) == 1
    assert changes[0].path == "prefix2/test2"
    assert changes[0].type == "added"


def test_reference_merge_into(branch_with_commits: lakefs.Branch, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_reference.py::test_reference_merge_into."""
    branch = branch_with_commits
    repo = lakefs.Repository(branch.repo_id, client=lakefs_client)
    main = repo.branch("main")

    # Two branches at the same commit: merging one into the other changes nothing.
    twin_a = repo.branch("test_branch_merge_into_a").create(branch)
    twin_b = repo.branch("test_branch_merge_into_b").create(branch)
    with pytest.raises(BadRequestException, match=r".+no changes.+"):
        twin_a.merge_into(twin_b, message="MergeNoChanges")
    twin_a.merge_into(twin_b, message="MergeNoChangesWithFlag", allow_empty=True)

    newest, previous = branch.log(max_amount=2)
    target = repo.branch("test_reference_merge_into").create(main)
    repo.ref(previous.id).merge_into(target, message="Merge1")
    assert target.get_commit().message == "Merge1"
    assert list(target.log(max_amount=2))[1].id == previous.id

    branch.merge_into(target.id, message="Merge2")
    assert target.get_commit().message == "Merge2"
    assert list(target.log(max_amount=3))[2].id == newest.id


def test_reference_objects(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_reference.py::test_reference_objects."""
    main = plain_repo.branch("main")
    upload_each(main, NINE_PATHS)

    listed = list(main.objects())
    assert len(listed) == len(NINE_PATHS)
    assert all(entry.path in NINE_PATHS for entry in listed)

    top_level = ["a", "b", "bar/", "c", "foo/"]
    grouped = list(main.objects(delimiter="/"))
    assert len(grouped) == len(top_level)
    assert all(entry.path in top_level for entry in grouped)


# ---------------------------------------------------------------------------------------------------------------------
# test_repository.py


@pytest.mark.parametrize("attr", ["branches", "tags"])
def test_repository_listings(repo_with_branches_and_tags: lakefs.Repository, attr: str) -> None:
    """lakeFS wrapper suite: test_repository.py::test_repository_listings."""
    listing = getattr(repo_with_branches_and_tags, attr)
    expected_total = LISTING_PREFIXES * LISTING_PER_PREFIX + (1 if attr == "branches" else 0)  # main is a branch
    assert len(list(listing())) == expected_total

    page = list(listing(max_amount=100, prefix=f"{attr}01", after=f"{attr}01-09"))
    assert [ref.id for ref in page] == [f"{attr}01-{j:02d}" for j in range(10, 20)]


def test_repositories(lakefs_client: Client, storage_namespace: str) -> None:
    """lakeFS wrapper suite: test_repository.py::test_repositories."""
    base = f"test-repo{uuid.uuid4()}-"
    for i in range(10):
        lakefs.repository(f"{base}{i}", client=lakefs_client).create(storage_namespace=f"{storage_namespace}-{i}")

    found = list(lakefs.repositories(client=lakefs_client, prefix=base))
    assert [r.properties.id for r in found] == [f"{base}{i}" for i in range(10)]


def test_repository_create_storage_id(lakefs_client: Client, storage_namespace: str) -> None:
    """lakeFS wrapper suite: test_repository.py::test_repository_create_storage_id."""
    name = f"test-repo{uuid.uuid4()}"
    created = lakefs.repository(name, client=lakefs_client).create(storage_namespace=storage_namespace, storage_id="")
    assert created.properties.id == name
    assert created.properties.storage_namespace == storage_namespace
    assert created.properties.storage_id == ""


def test_repository_create_storage_id_invalid_value(lakefs_client: Client, storage_namespace: str) -> None:
    """lakeFS wrapper suite: test_repository.py::test_repository_create_storage_id_invalid_value."""
    unborn = lakefs.repository(f"test-repo{uuid.uuid4()}", client=lakefs_client)
    with raises(BadRequestException):
        unborn.create(storage_namespace=storage_namespace, storage_id="invalidvalue")


# ---------------------------------------------------------------------------------------------------------------------
# test_sanity.py


def test_repository_sanity(plain_repo: lakefs.Repository, repo_name: str, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_sanity.py::test_repository_sanity."""
    namespace = f"local://{repo_name}"  # the namespace ``plain_repo`` was created with
    fetched = lakefs.repository(plain_repo.properties.id, client=lakefs_client)  # the module-level helper
    assert fetched.properties == lakefs.RepositoryProperties(
        id=plain_repo.properties.id,
        default_branch="main",
        storage_namespace=namespace,
        creation_date=fetched.properties.creation_date,
        storage_id="",
    )

    # include_samples given positionally, as upstream does; exist_ok returns the existing repository.
    assert fetched.create(namespace, "main", True, exist_ok=True).properties == fetched.properties
    with raises(ConflictException):
        fetched.create(namespace, "main", True)

    _ = fetched.metadata
    assert len(list(fetched.branches())) == 1

    fetched.delete()
    with raises(NotFoundException):
        fetched.delete()


def test_branch_sanity(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_sanity.py::test_branch_sanity."""
    main = plain_repo.branch("main")
    created = plain_repo.branch("test_branch").create("main")
    assert created.repo_id == plain_repo.properties.id
    assert created.id == "test_branch"
    assert created.head.id == main.head.id

    created.delete()
    with raises(NotFoundException):
        _ = created.head


def test_ref_sanity(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_sanity.py::test_ref_sanity."""
    ref = plain_repo.ref("main")
    assert ref.repo_id == plain_repo.properties.id
    assert ref.id == "main"
    assert ref.get_commit().metadata == {}
    assert ref.get_commit().message == "Repository created"


def test_tag_sanity(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_sanity.py::test_tag_sanity."""
    tag = plain_repo.tag("test_tag")
    with raises(NotFoundException):
        tag.get_commit()

    commit = plain_repo.branch("main").get_commit()
    assert tag.create(commit) == tag
    assert tag.id == "test_tag"
    assert tag.get_commit().metadata == commit.metadata
    assert tag.get_commit().message == commit.message

    with raises(ConflictException):
        tag.create(commit.id)
    assert tag.create("test_tag", True) == tag  # exist_ok, given positionally

    tag.delete()
    with raises(NotFoundException):
        tag.get_commit()
    with raises(NotFoundException):
        tag.delete()
    tag.create(commit.id)  # the name is free again


def test_object_sanity(plain_repo: lakefs.Repository, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_sanity.py::test_object_sanity."""
    content = b"test_data"
    metadata = {"foo": "bar"}
    written = lakefs.WriteableObject(
        repository_id=plain_repo.properties.id, reference_id="main", path="test_obj", client=lakefs_client
    ).upload(data=content, metadata=metadata)
    with written.reader() as reader:
        assert reader.read() == content

    stat = written.stat()
    assert stat.path == "test_obj" == written.path
    assert stat.mtime <= time.time()
    assert stat.size_bytes == len(content)
    assert stat.metadata == metadata
    assert stat.content_type == "application/octet-stream"

    written.delete()
    with raises(ObjectNotFoundException):
        written.stat()


@pytest.mark.parametrize("ssl_enabled", [True, False, None])
def test_ssl_configuration(lakefs_server: ServerProcess, lakefs_client: Client, ssl_enabled: bool | None) -> None:
    """lakeFS wrapper suite: test_sanity.py::test_ssl_configuration."""
    verifies = ssl_enabled is not False  # verification is on unless switched off explicitly
    proxy = "http://someproxy:1234"
    ca_cert = "somecert"
    configured = Client(
        host=lakefs_server.url,
        username=lakefs_client.config.username,
        password=lakefs_client.config.password,
        verify_ssl=ssl_enabled,
        proxy=proxy,
        ssl_ca_cert=ca_cert,
    )
    assert configured.config.verify_ssl is verifies
    assert configured.config.proxy == proxy
    assert configured.config.ssl_ca_cert == ca_cert

    pool = configured.sdk_client._api.rest_client.pool_manager
    assert pool.connection_pool_kw.get("cert_reqs") is (ssl.CERT_REQUIRED if verifies else ssl.CERT_NONE)
    assert str(pool.proxy) == proxy
    assert pool.connection_pool_kw.get("ca_certs") is ca_cert


# ---------------------------------------------------------------------------------------------------------------------
# test_import.py

IMPORT_SOURCE = "s3://esti-system-testing-data/import-test-data/"
IMPORTED_FILES = [
    "nested/prefix-1/file002005",
    "nested/prefix-2/file001894",
    "nested/prefix-3/file000005",
    "nested/prefix-4/file000645",
    "nested/prefix-5/file001566",
    "nested/prefix-6/file002011",
    "nested/prefix-7/file000101",
]


@pytest.mark.skip(reason=NO_IMPORTS)
def test_import_manager(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_import.py::test_import_manager."""
    branch = plain_repo.branch("import-branch").create("main")
    manager = branch.import_data(commit_message="my imported data", metadata={"foo": "bar"})
    with raises(ImportManagerException):  # nothing to cancel yet
        manager.cancel()

    # An import of nothing still commits, with the given message and metadata.
    result = manager.run()
    assert result.error is None
    assert result.completed
    assert result.commit.id == branch.get_commit().id
    assert result.commit.message == "my imported data"
    assert result.commit.metadata.get("foo") == "bar"
    assert result.ingested_objects == 0
    with raises(ImportManagerException):  # a manager runs once
        manager.run()

    destination = "imported/new-prefix/"
    manager = branch.import_data()
    manager.prefix(f"{IMPORT_SOURCE}prefix-1/", f"{destination}prefix-1/").prefix(
        f"{IMPORT_SOURCE}prefix-2/", f"{destination}prefix-2/"
    )
    for path in IMPORTED_FILES:
        manager.object(IMPORT_SOURCE + path, destination + path)
    manager.commit_message = "new commit"
    manager.commit_metadata = None
    result = manager.run()
    assert result.error is None
    assert result.completed
    assert result.commit.id == branch.get_commit().id
    assert result.commit.message == manager.commit_message
    assert result.commit.metadata.get("foo") is None
    assert result.ingested_objects == 4207
    with raises(ConflictException):  # the import has completed
        manager.cancel()


@pytest.mark.skip(reason=NO_IMPORTS)
def test_import_manager_cancel(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_import.py::test_import_manager_cancel."""
    branch = plain_repo.branch("import-branch").create("main")
    head_before = branch.get_commit()
    manager = branch.import_data(commit_message="my imported data", metadata={"foo": "bar"})
    manager.prefix(IMPORT_SOURCE, "import/")

    manager.start()
    time.sleep(1)
    with raises(ImportManagerException):  # already started
        manager.start()
    manager.cancel()

    status = manager.status()
    assert branch.get_commit().id == head_before.id
    assert branch.get_commit().message == head_before.message
    assert not status.completed
    assert "Canceled" in status.error.message
    assert len(manager.sources) == 1
