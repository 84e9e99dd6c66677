"""Durability: SIGKILL the server while it commits thousands of staged objects.

After a restart the commit must be there completely or not at all: either the branch moved to a
commit holding every object, or it did not move and every object is still staged. Nothing
committed earlier may be lost.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import lakefs
import pytest
from lakefs.client import Client
from lakefs.exceptions import LakeFSException
from urllib3.exceptions import HTTPError

from infra.lakefs_server.runner import ServerProcess

pytestmark = pytest.mark.integration

STAGED = 5_000
UPLOAD_THREADS = 8
ATTEMPTS = 3  # the kill races the commit; each attempt that loses the race re-stages and retries
LOG_TIMEOUT_S = 30.0


def stage_batch(branch: lakefs.Branch, batch: int) -> None:
    def upload(i: int) -> None:
        # pre_sign=False: skip the client's per-object storage-config lookup.
        branch.object(f"batch-{batch}/{i:05d}.txt").upload(f"batch {batch} object {i}", pre_sign=False)

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(upload, range(STAGED)))


def commit_in_background(branch: lakefs.Branch) -> threading.Thread:
    def run() -> None:
        # The server is killed under this request: an error here is expected.
        with contextlib.suppress(LakeFSException, HTTPError, OSError):
            branch.commit("big batch")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for_log(server: ServerProcess, marker: str, start_at: int) -> None:
    """Return the moment ``marker`` appears in the server log (polled every half millisecond)."""
    deadline = time.monotonic() + LOG_TIMEOUT_S
    with open(server.log_path, "rb") as log:
        log.seek(start_at)
        seen = b""
        while marker.encode() not in seen:
            assert time.monotonic() < deadline, f"server never logged {marker!r}"
            seen = seen[-len(marker) :] + log.read()
            time.sleep(0.0005)


def test_sigkill_during_commit_is_all_or_nothing(
    private_server: ServerProcess, make_client: Callable[[ServerProcess], Client]
) -> None:
    client = make_client(private_server)
    repo = lakefs.Repository("durable", client=client).create(storage_namespace="local://durable")
    branch = repo.branch("ingest").create("main")
    branch.object("baseline.txt").upload("committed before the crash")
    baseline = branch.commit("baseline").get_commit()
    repo.tag("baseline").create(baseline.id)

    interrupted = False
    committed_batches: list[int] = []
    for attempt in range(ATTEMPTS):
        stage_batch(branch, attempt)
        log_size = private_server.log_path.stat().st_size
        head_before = branch.get_commit().id
        worker = commit_in_background(branch)
        wait_for_log(private_server, f"commit started: repository=durable branch=ingest staged={STAGED}", log_size)
        private_server.kill()
        worker.join(timeout=LOG_TIMEOUT_S)
        private_server.start()

        head_after = branch.get_commit().id
        expected_paths = {"baseline.txt"} | {
            f"batch-{b}/{i:05d}.txt" for b in [*committed_batches, attempt] for i in range(STAGED)
        }
        listed = {o.path for o in branch.objects(amount=1000)}
        assert listed == expected_paths  # staged or committed, every object is there
        if head_after == head_before:
            interrupted = True
            print(f"kill landed inside the commit on attempt {attempt + 1}")
            assert len(list(branch.uncommitted(amount=1000))) == STAGED  # still staged, all of them
            assert {o.path for o in repo.ref("ingest@").objects(amount=1000)} == expected_paths - {
                f"batch-{attempt}/{i:05d}.txt" for i in range(STAGED)
            }
            last = branch.object(f"batch-{attempt}/04999.txt").reader().read()
            assert last == f"batch {attempt} object 4999".encode()
            break
        # The commit finished before the kill landed: it must then be complete.
        committed_batches.append(attempt)
        assert list(branch.uncommitted()) == []
        assert {o.path for o in repo.ref(head_after).objects(amount=1000)} == expected_paths
    assert interrupted, f"the kill never landed inside the commit in {ATTEMPTS} attempts"

    # Nothing committed before the crash is lost, and the store still works.
    assert repo.tag("baseline").get_commit().id == baseline.id
    assert repo.ref("baseline").object("baseline.txt").reader().read() == b"committed before the crash"
    assert [c.id for c in branch.log()][-2:] == [baseline.id, repo.ref("main").get_commit().id]
    finished = branch.commit("big batch, after restart").get_commit()
    everything = {o.path for o in repo.ref(finished.id).objects(amount=1000)}
    assert len(everything) == 1 + STAGED * (len(committed_batches) + 1)
