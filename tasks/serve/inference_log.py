"""Inference logs on lakeFS: each request, redacted, appended to the `logs` branch; read back by window.

Inference logs live on the `logs` branch of the data repository, one JSON-lines object per batch
of requests under `logs/date=YYYY-MM-DD/`, with personal data redacted before anything is written.
The drift check reads a time window of them back. No Prefect here.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import lakefs
from lakefs.client import Client

from tasks.prepare import redact_text
from tasks.serve.answerer import AskResult
from tasks.services import lakefs as versioning

LOGS_BRANCH = "logs"
LOGS_PREFIX = "logs/"


def redacted_record(result: AskResult) -> dict[str, Any]:
    """What is written to the log: the request with personal data and secrets replaced."""
    record = result.model_dump(mode="json")
    record["question"] = redact_text(result.question)[0]
    record["answer"] = redact_text(result.answer)[0]
    return record


def log_requests(client: Client, repository: str, results: Sequence[AskResult]) -> str | None:
    """Append the requests to the `logs` branch (one object per call) and commit; returns the commit."""
    if not results:
        return None
    versioning.create_run_branch(client, repository, LOGS_BRANCH, source="main", exist_ok=True)
    day = results[0].at.strftime("%Y-%m-%d")
    path = f"{LOGS_PREFIX}date={day}/{results[0].at.strftime('%H%M%S')}-{uuid.uuid4().hex[:8]}.jsonl"
    body = "".join(json.dumps(redacted_record(r), ensure_ascii=False) + "\n" for r in results).encode()
    lakefs.Branch(repository, LOGS_BRANCH, client=client).object(path).upload(body, content_type="application/x-ndjson")
    return versioning.commit(
        client,
        repository,
        LOGS_BRANCH,
        f"log {len(results)} requests",
        metadata={"llmops.stage": "inference-log", "llmops.requests": str(len(results))},
    ).commit_id


def read_log_window(
    client: Client, repository: str, since: datetime, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Logged requests with `since <= at < until`, read from the date partitions that overlap."""
    until = until or datetime.now(UTC)
    branch = lakefs.Branch(repository, LOGS_BRANCH, client=client)
    try:
        branch.get_commit()
    except lakefs.exceptions.NotFoundException:
        return []
    out: list[dict[str, Any]] = []
    day = since.date()
    while day <= until.date():
        for obj in branch.objects(prefix=f"{LOGS_PREFIX}date={day.isoformat()}/"):
            with branch.object(obj.path).reader(mode="rb") as f:
                for line in io.TextIOWrapper(io.BytesIO(f.read()), encoding="utf-8"):
                    record = json.loads(line)
                    at = datetime.fromisoformat(record["at"])
                    if since <= at < until:
                        out.append(record)
        day += timedelta(days=1)
    return out


class RequestLog:
    """Requests of a long-running server, written in batches: one lakeFS commit per `batch` requests,
    or per `flush_s` seconds when traffic is slow, never one per request; `close()` writes the rest."""

    def __init__(
        self, client: Client, repository: str, batch: int = 64, flush_s: float = 30.0, log: Any = print
    ) -> None:
        self.client, self.repository, self.batch, self.flush_s, self.log = client, repository, batch, flush_s, log
        self._pending: list[AskResult] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one commit at a time on the logs branch
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="llmops-request-log")
        self._thread.start()

    def add(self, result: AskResult) -> None:
        with self._lock:
            self._pending.append(result)
            full = len(self._pending) >= self.batch
        if full:
            self._wake.set()

    def _take(self) -> list[AskResult]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def flush(self) -> str | None:
        """Write what is pending now, in one commit; returns it (None when nothing was written)."""
        with self._writing:
            results = self._take()
            if not results:
                return None
            try:
                return log_requests(self.client, self.repository, results)
            except Exception as exc:  # a lakeFS outage must not fail the answers already given: keep them
                with self._lock:
                    self._pending[:0] = results
                self.log(f"inference log: {len(results)} requests not written yet ({type(exc).__name__}: {exc})")
                return None

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=60)
        self.flush()
