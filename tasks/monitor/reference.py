"""The drift reference: what a champion's traffic looked like right after its release, recorded with the release.

A drift check asks "is this hour's traffic unlike the traffic the model was released into?". Its reference is
therefore real traffic, not training prompts: generated prompts are phrased unlike people's questions, and a
classifier tells the two apart at AUC 0.9 even when every question is about the corpus.

    traffic      the first `DriftPolicy.reference_requests` requests the champion version served after its
                 release, frozen once that many have arrived
    designated   a set of questions a user names (`llmops drift reference FILE`), for a release whose early
                 traffic is not representative, or to skip the collection period

Either is written to the `logs` branch under `drift-reference/<model>/v<version>.jsonl`, committed, and the
commit is tagged on the model version (`llmops.drift_reference`), so the reference travels with the release:
a rollback finds its reference again, and a new champion starts collecting its own. No Prefect here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import lakefs
from lakefs.client import Client
from pydantic import BaseModel, Field

from tasks.monitor.errors import DriftInputError
from tasks.serve import LOGS_BRANCH
from tasks.services import lakefs as versioning

REFERENCE_TAG = "llmops.drift_reference"
REFERENCE_PREFIX = "drift-reference/"

Source = Literal["traffic", "designated"]


class DriftReference(BaseModel):
    """Where a model version's drift reference lives and what it holds."""

    model_name: str
    model_version: str
    source: Source
    requests: int = Field(description="Rows in the reference.")
    first_at: datetime | None = Field(None, description="Time of the first request (traffic references).")
    last_at: datetime | None = Field(None, description="Time of the last request (traffic references).")
    lakefs_commit: str = Field(description="Commit of the logs branch that holds the reference file.")
    path: str
    recorded_at: datetime


def released_at(version: Any) -> datetime:
    """When the version became champion: its `llmops.promoted_at` tag, else its registration time."""
    tag = version.tags.get("llmops.promoted_at")
    if tag:
        return datetime.fromisoformat(tag.replace("Z", "+00:00"))
    return datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC)


def served_by(records: Iterable[dict[str, Any]], model_name: str, version: str) -> list[dict[str, Any]]:
    """The logged requests this model version answered, oldest first."""
    mine = [r for r in records if r.get("model") == model_name and str(r.get("model_version")) == str(version)]
    return sorted(mine, key=lambda r: r["at"])


def request_key(record: dict[str, Any]) -> str:
    """A logged request's identity: its request id, or (for logs written before ids) its time and question."""
    return str(record.get("request_id") or f"{record['at']}|{record['question']}")


def load_reference(
    client: Client, mlflow: Any, repository: str, model_name: str, version: str
) -> tuple[DriftReference, list[dict[str, Any]]] | None:
    """The version's recorded reference and its rows (from the logs repository), or None while there is none."""
    tag = mlflow.get_model_version(model_name, str(version)).tags.get(REFERENCE_TAG)
    if not tag:
        return None
    reference = DriftReference.model_validate_json(tag)
    with lakefs.Reference(repository, reference.lakefs_commit, client=client).object(reference.path).reader("rb") as f:
        rows = [json.loads(line) for line in io.TextIOWrapper(io.BytesIO(f.read()), encoding="utf-8") if line.strip()]
    return reference, rows


def record_reference(
    client: Client,
    mlflow: Any,
    repository: str,
    model_name: str,
    version: str,
    rows: Sequence[dict[str, Any]],
    source: Source,
) -> DriftReference:
    """Write the rows as the version's reference on the logs branch, commit, and tag the version with it."""
    if not rows:
        raise DriftInputError("a drift reference needs at least one request")
    version = str(version)
    versioning.create_run_branch(client, repository, LOGS_BRANCH, source="main", exist_ok=True)
    path = f"{REFERENCE_PREFIX}{model_name}/v{version}.jsonl"
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    lakefs.Branch(repository, LOGS_BRANCH, client=client).object(path).upload(body, content_type="application/x-ndjson")
    commit = versioning.commit(
        client,
        repository,
        LOGS_BRANCH,
        f"drift reference of {model_name} v{version}: {len(rows)} {source} requests",
        metadata={"llmops.stage": "drift-reference", "llmops.model": model_name, "llmops.model_version": version},
    ).commit_id
    times = sorted(str(r["at"]) for r in rows if r.get("at"))
    reference = DriftReference(
        model_name=model_name,
        model_version=version,
        source=source,
        requests=len(rows),
        first_at=datetime.fromisoformat(times[0]) if times else None,
        last_at=datetime.fromisoformat(times[-1]) if times else None,
        lakefs_commit=commit,
        path=path,
        recorded_at=datetime.now(UTC),
    )
    mlflow.set_model_version_tag(model_name, version, REFERENCE_TAG, reference.model_dump_json())
    return reference


def designated_rows(questions: Sequence[str]) -> list[dict[str, Any]]:
    """A user's reference questions as reference rows: questions only, no answers or hits."""
    cleaned = [q.strip() for q in questions if isinstance(q, str) and q.strip()]
    if len(cleaned) != len(questions):
        raise DriftInputError(
            f"{len(questions) - len(cleaned)} of {len(questions)} reference questions are empty or not text; "
            "give one question per line (or a JSON object with a 'question' field per line)"
        )
    return [{"question": q} for q in cleaned]


def read_questions(text: str, origin: str) -> list[str]:
    """Questions from a file's text: JSON lines with a `question` field, or one plain question per line."""
    questions = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                value = json.loads(line).get("question")
            except (json.JSONDecodeError, AttributeError):
                value = None
            if not isinstance(value, str) or not value.strip():
                raise DriftInputError(f"{origin}, line {number}: a JSON line needs a non-empty string field 'question'")
            questions.append(value)
        else:
            questions.append(line)
    if not questions:
        raise DriftInputError(f"{origin} has no questions: give one per line")
    return questions
