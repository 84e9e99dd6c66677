"""Ask: retrieve through the serving alias, answer with the champion, log the request to lakeFS (no Prefect).

Inference logs live on the `logs` branch of the data repository, one JSON-lines object per batch
of requests under `logs/date=YYYY-MM-DD/`, with personal data redacted before anything is written.
The drift check reads a time window of them back.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lakefs
import numpy as np
from lakefs.client import Client
from pydantic import BaseModel

from tasks import retrieval, versioning
from tasks.data.redact import redact_text
from tasks.training.inference import generate

LOGS_BRANCH = "logs"
LOGS_PREFIX = "logs/"


class Hit(BaseModel):
    chunk_id: int
    doc_id: str
    title: str
    score: float


class AskResult(BaseModel):
    question: str
    answer: str
    hits: list[Hit]
    model: str
    model_version: str
    collection: str
    latency_ms: float
    at: datetime


class Answerer:
    """The champion model and the serving index, loaded once for many questions."""

    def __init__(self, mlflow: Any, milvus: Any, model_name: str, index_alias: str,
                 embed: Callable[[list[str]], np.ndarray], workdir: Path, top_k: int = 4,
                 max_new_tokens: int = 64) -> None:
        from tasks.modeling import load_version

        version = mlflow.get_model_version_by_alias(model_name, "champion")
        self.model, self.tokenizer, self.template = load_version(mlflow, model_name, version.version, workdir)
        self.model_name, self.version = model_name, str(version.version)
        self.milvus, self.alias, self.embed = milvus, index_alias, embed
        collection = retrieval.alias_target(milvus, index_alias)
        if collection is None:
            from llmops.errors import LLMOpsError

            raise LLMOpsError(f"the serving index alias {index_alias!r} does not exist yet: a lifecycle run whose "
                              "candidate passes the gate creates it (make run, or llmops run lifecycle)")
        self.collection = collection
        self.top_k, self.max_new_tokens = top_k, max_new_tokens

    def ask(self, questions: Sequence[str]) -> list[AskResult]:
        t0 = time.perf_counter()
        vectors = self.embed(list(questions))
        found = retrieval.search(self.milvus, self.alias, vectors, self.top_k)
        answers = generate(self.model, self.tokenizer, list(questions), max_new_tokens=self.max_new_tokens,
                           template=self.template)
        per_request_ms = 1000 * (time.perf_counter() - t0) / max(len(questions), 1)
        now = datetime.now(UTC)
        return [
            AskResult(question=q, answer=a.strip(), model=self.model_name, model_version=self.version,
                      collection=self.collection, latency_ms=round(per_request_ms, 1), at=now,
                      hits=[Hit(chunk_id=int(h["id"]), doc_id=str(h["doc_id"]), title=str(h.get("title", "")),
                                score=float(h["score"])) for h in hits])
            for q, a, hits in zip(questions, answers, found)
        ]


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
    return versioning.commit(client, repository, LOGS_BRANCH, f"log {len(results)} requests",
                             metadata={"llmops.stage": "inference-log", "llmops.requests": str(len(results))}).commit_id


def read_log_window(client: Client, repository: str, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
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


def held_out_questions(lakefs_client: Client, mlflow: Any, model_name: str, n: int) -> list[str]:
    """Prompts of the champion's eval split: questions the model was not trained on (demo traffic)."""
    from tasks import registry
    from tasks.modeling import read_parquet_at

    lineage = registry.Lineage.from_tags(mlflow.get_model_version_by_alias(model_name, registry.CHAMPION).tags)
    prompts = read_parquet_at(lakefs_client, lineage.lakefs_repository, lineage.lakefs_commit,
                              [lineage.eval_path])["prompt"].astype(str)
    # a seeded random sample: the split's files are ordered by source, so the first rows are one topic
    return prompts.sample(n=min(n, len(prompts)), random_state=0).tolist()
