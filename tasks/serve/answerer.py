"""Ask: retrieve through the serving alias and answer with the champion (no Prefect).

The champion model and the serving index are loaded once (`Answerer`) for many questions; each
answer carries the hits it was given. `held_out_questions` samples the champion's eval prompts,
the demo traffic of `llmops replay`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from lakefs.client import Client
from pydantic import BaseModel, Field

from llmops.errors import LLMOpsError
from tasks.services import lakefs as versioning
from tasks.services import milvus as milvus_service
from tasks.services.mlflow import CHAMPION
from tasks.train import Lineage, format_contexts, generate, generate_stream, load_version, read_training_config


class Hit(BaseModel):
    chunk_id: int
    doc_id: str
    title: str
    score: float


class AskResult(BaseModel):
    request_id: str = Field(default_factory=lambda: uuid.uuid4().hex)  # identifies the request in the log
    question: str
    answer: str
    hits: list[Hit]  # the retrieved chunks, best first: the answer's sources
    model: str
    model_version: str
    collection: str
    latency_ms: float
    at: datetime
    context: str = ""  # the passages the model was given, as it saw them

    def sources(self) -> list[str]:
        """ "[n] title (score)" per hit, in the numbering the prompt's passages use."""
        return [f"[{n}] {h.title or h.doc_id} ({h.score:.2f})" for n, h in enumerate(self.hits, 1)]


class Answerer:
    """The champion model and the serving index, loaded once for many questions."""

    def __init__(
        self,
        mlflow: Any,
        milvus: Any,
        model_name: str,
        index_alias: str,
        embed: Callable[[list[str]], np.ndarray],
        workdir: Path,
        top_k: int | None = None,
        max_new_tokens: int = 64,
        version: str | None = None,
        collection: str | None = None,
    ) -> None:
        """The champion and the collection behind `index_alias`; or a given `version` and `collection`
        (what the serving endpoint resolved those aliases to, so that both move together)."""
        if version is None:
            version = str(mlflow.get_model_version_by_alias(model_name, CHAMPION).version)
        self.model, self.tokenizer, self.template = load_version(mlflow, model_name, version, workdir)
        # The passages go into the prompt exactly as the model was trained with them.
        trained = read_training_config(workdir / "adapter")["config"]
        self.context_k, self.passage_chars = (
            int(trained.get("retrieval_top_k", 0)),
            int(trained.get("passage_chars", 200)),
        )
        self.model_name, self.version = model_name, str(version)
        self.milvus, self.alias, self.embed = milvus, index_alias, embed
        collection = collection or milvus_service.alias_target(milvus, index_alias)
        if collection is None:
            raise LLMOpsError(
                f"the serving index alias {index_alias!r} does not exist yet: a lifecycle run whose "
                "candidate passes the gate creates it (make run, or llmops run lifecycle)"
            )
        self.collection = collection
        self.top_k = max(top_k if top_k is not None else self.context_k, self.context_k, 1)
        self.max_new_tokens = max_new_tokens

    def retrieve(self, questions: Sequence[str], top_k: int | None = None) -> tuple[list[list[dict]], list[str]]:
        """The hits for each question, best first, and the passages as the model is given them."""
        vectors = self.embed(list(questions))
        found = milvus_service.search(self.milvus, self.collection, vectors, max(top_k or self.top_k, self.context_k))
        return found, format_contexts(found, questions, self.passage_chars, self.context_k)

    def ask(self, questions: Sequence[str], max_new_tokens: int | None = None) -> list[AskResult]:
        t0 = time.perf_counter()
        found, contexts = self.retrieve(questions)
        answers = generate(
            self.model,
            self.tokenizer,
            list(questions),
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            template=self.template,
            contexts=contexts,
        )
        per_request_ms = 1000 * (time.perf_counter() - t0) / max(len(questions), 1)
        return [
            self.result(q, a.strip(), hits, context, per_request_ms)
            for q, a, hits, context in zip(questions, answers, found, contexts, strict=True)
        ]

    def complete(self, question: str, context: str, max_new_tokens: int | None = None) -> str:
        """The answer to one question, given its passages (`retrieve`)."""
        return generate(
            self.model,
            self.tokenizer,
            [question],
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            template=self.template,
            contexts=[context],
        )[0].strip()

    def stream(self, question: str, context: str, max_new_tokens: int | None = None) -> Iterator[str]:
        """The answer to one question, given its passages (`retrieve`), piece by piece."""
        return generate_stream(
            self.model,
            self.tokenizer,
            question,
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            template=self.template,
            context=context,
        )

    def result(self, question: str, answer: str, hits: list[dict], context: str, latency_ms: float) -> AskResult:
        return AskResult(
            question=question,
            answer=answer,
            model=self.model_name,
            model_version=self.version,
            collection=self.collection,
            latency_ms=round(latency_ms, 1),
            at=datetime.now(UTC),
            context=context,
            hits=[
                Hit(
                    chunk_id=int(h["id"]),
                    doc_id=str(h["doc_id"]),
                    title=str(h.get("title", "")),
                    score=float(h["score"]),
                )
                for h in hits
            ],
        )


def held_out_questions(lakefs_client: Client, mlflow: Any, model_name: str, n: int, seed: int | None = 0) -> list[str]:
    """Prompts of the champion's eval split: questions the model was not trained on (demo traffic).

    A seeded sample (the same n each time); `seed=None` draws a new one, as `llmops replay` does."""
    lineage = Lineage.from_tags(mlflow.get_model_version_by_alias(model_name, CHAMPION).tags)
    prompts = versioning.read_dataframes(
        lakefs_client, lineage.lakefs_repository, lineage.lakefs_commit, [lineage.eval_path]
    )["prompt"].astype(str)
    # a seeded random sample: the split's files are ordered by source, so the first rows are one topic
    return prompts.sample(n=min(n, len(prompts)), random_state=seed).tolist()
