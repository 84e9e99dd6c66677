"""The serving endpoint: the OpenAI chat-completions API over the champion and the serving index.

    GET  /v1/models             the served model (the registered name; its version in `llmops`)
    POST /v1/chat/completions   an answer from the retrieved passages; `stream: true` for server-sent events
    GET  /health                no credentials: whether a champion is being served

The interface vLLM, TGI and Ollama expose, so any OpenAI client works. What OpenAI's response
does not have comes in two extra fields: `sources` (the retrieved chunks the answer was given,
numbered as in the prompt) and `llmops` (model version, collection, whether the response came
from the cache, the request id of the inference log). In a stream they ride on the last chunk.

The model answers one question: the last user message (earlier turns are not given to it), with
greedy decoding, so `temperature`/`top_p` are accepted and have no effect, and the cache key
holds only what changes the answer. `Champion` looks the `champion` alias and the serving alias up
again every `refresh_s` and loads the new pair without a restart. A release moves the index alias
first, then the champion: a collection other than the one the champion was trained against is
taken as a release under way, and the pair served stays as it was until the champion follows (or,
an operator's index rollback, for `settle_s`).
No Prefect here.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from tasks.serve.answerer import Answerer, AskResult
from tasks.serve.cache import ResponseCache, cache_key
from tasks.services import milvus as milvus_service
from tasks.services.mlflow import CHAMPION
from tasks.train import encode_prompt


class ServingError(Exception):
    """A request the endpoint answers with an OpenAI-style error body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


class Champion:
    """The (champion version, collection) pair being served, loaded once and swapped when the aliases move."""

    def __init__(
        self,
        mlflow: Any,
        milvus: Any,
        model_name: str,
        index_alias: str,
        load: Callable[[str, str], Answerer],
        refresh_s: float = 5.0,
        log: Callable[[str], None] = print,
        settle_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mlflow, self.milvus, self.model_name, self.index_alias = mlflow, milvus, model_name, index_alias
        self.load, self.refresh_s, self.log, self.settle_s, self.clock = load, refresh_s, log, settle_s, clock
        self.answerer: Answerer | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._held_back: tuple[tuple[str, str], float] | None = None

    def _targets(self) -> tuple[Any, str | None]:
        try:
            version = self.mlflow.get_model_version_by_alias(self.model_name, CHAMPION)
        except Exception:  # the model, or its alias, does not exist yet
            version = None
        return version, milvus_service.alias_target(self.milvus, self.index_alias)

    def current(self) -> Answerer:
        """What answers now: the pair the aliases name (looked up at most every `refresh_s`)."""
        if self.answerer is not None and self.clock() - self._checked < self.refresh_s:
            return self.answerer
        with self._lock:
            if self.answerer is None or self.clock() - self._checked >= self.refresh_s:
                self._refresh()
        if self.answerer is None:
            raise ServingError(
                503,
                f"no champion to serve yet: {self.model_name!r} has no `champion` alias, or the serving index alias "
                f"{self.index_alias!r} does not exist; a lifecycle run whose candidate passes the gate sets both",
                kind="server_error",
                code="model_not_ready",
            )
        return self.answerer

    def _refresh(self) -> None:
        self._checked = self.clock()
        version, collection = self._targets()
        if version is None or collection is None:
            return  # keep serving what is loaded (or nothing yet)
        pair = (str(version.version), collection)
        served = self.answerer
        if served is not None and (served.version, served.collection) == pair:
            return
        trained_on = (version.tags or {}).get("llmops.index_collection")  # the lineage tag of the fine-tune
        if served is not None and trained_on and trained_on != collection:
            # mid-release (the index alias moves first), or an operator's index rollback: serve the new pair
            # once it has held for `settle_s`, the old one meanwhile
            if self._held_back is None or self._held_back[0] != pair:
                self.log(f"v{pair[0]} was trained against {trained_on}, the alias names {collection}: holding")
                self._held_back = (pair, self.clock())
            if self.clock() - self._held_back[1] < self.settle_s:
                return
        started = time.perf_counter()
        self.answerer = self.load(*pair)
        self._held_back = None
        before = f" (was v{served.version} on {served.collection})" if served is not None else ""
        took = time.perf_counter() - started
        self.log(f"serving {self.model_name} v{pair[0]} on {collection}{before}, loaded in {took:.1f} s")


class Message(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: the text ones
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = None
    top_p: float | None = None
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    user: str | None = None
    top_k: int | None = Field(None, ge=1, le=50, description="llmops: how many sources to return.")


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def _sources(result: AskResult) -> list[dict[str, Any]]:
    return [
        {"n": n, "chunk_id": h.chunk_id, "doc_id": h.doc_id, "title": h.title, "score": round(h.score, 4)}
        for n, h in enumerate(result.hits, 1)
    ]


def create_app(
    champion: Champion,
    cache: ResponseCache,
    api_key: str,
    record: Callable[[AskResult], None] | None = None,
    default_max_tokens: int = 64,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """The endpoint over `champion`; every request is handed to `record` (the batched inference log)."""
    generating = threading.Lock()  # one model: requests generate one at a time (the CPU is shared anyway)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if on_shutdown is not None:
            on_shutdown()

    app = FastAPI(title="llmops serving endpoint", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(ServingError)
    async def serving_error(_request: Request, exc: ServingError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind, exc.code)

    @app.exception_handler(422)
    async def invalid(_request: Request, exc: Any) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in getattr(exc, "errors", lambda: [])()
        )
        return _error(400, f"invalid request: {problems or exc}")

    def authorised(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), api_key.encode()):
            raise ServingError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <key>' (LLMOPS_SERVE_API_KEY; the local stack "
                "keeps it in <state>/serve/credentials.json)",
                code="invalid_api_key",
            )

    @app.get("/health")
    def health() -> dict[str, Any]:
        served = champion.answerer
        return {
            "status": "ok",
            "serving": None if served is None else {"model_version": served.version, "collection": served.collection},
        }

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    def models() -> dict[str, Any]:
        try:
            served = champion.current()
        except ServingError:
            return {"object": "list", "data": []}
        return {
            "object": "list",
            "data": [
                {
                    "id": champion.model_name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "llmops",
                    "llmops": {"model_version": served.version, "collection": served.collection},
                }
            ],
        }

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)])
    def chat(body: ChatRequest) -> Any:
        if body.model != champion.model_name:
            raise ServingError(
                404,
                f"the model {body.model!r} is not served here; GET /v1/models lists {champion.model_name!r}",
                code="model_not_found",
            )
        question = next((m.text() for m in reversed(body.messages) if m.role == "user"), "").strip()
        if not question:
            raise ServingError(400, "messages hold no user message with text: the last user message is the question")
        answerer = champion.current()
        max_tokens = body.max_completion_tokens or body.max_tokens or default_max_tokens
        params = {"max_tokens": max_tokens, "top_k": body.top_k}
        key = cache_key(
            answerer.version, answerer.collection, [m.model_dump() | {"content": m.text()} for m in body.messages],
            params,
        )  # fmt: skip
        request_id = uuid.uuid4().hex
        cached = cache.get(key)
        if body.stream:
            return StreamingResponse(
                _stream(answerer, question, max_tokens, body.top_k, cached, key, request_id),
                media_type="text/event-stream",
            )
        t0 = time.perf_counter()
        if cached is None:
            with generating:
                found, contexts = answerer.retrieve([question], body.top_k)
                answer = answerer.complete(question, contexts[0], max_tokens)
            result = answerer.result(question, answer, found[0], contexts[0], 1000 * (time.perf_counter() - t0))
            cached = _entry(answerer, question, contexts[0], result)
            cache.set(key, cached)
            was_cached = False
        else:
            result = _from_cache(answerer, question, cached, 1000 * (time.perf_counter() - t0))
            was_cached = True
        result = result.model_copy(update={"request_id": request_id})
        if record is not None:
            record(result)
        return {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": champion.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": cached["answer"]},
                    "finish_reason": "length" if cached["completion_tokens"] >= max_tokens else "stop",
                }
            ],
            "usage": _usage(cached),
            "sources": cached["sources"],
            "llmops": _extra(answerer, was_cached, request_id, result.latency_ms),
        }

    def _stream(
        answerer: Answerer,
        question: str,
        max_tokens: int,
        top_k: int | None,
        cached: dict[str, Any] | None,
        key: str,
        request_id: str,
    ) -> Iterator[str]:
        t0 = time.perf_counter()
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            body = {
                "id": f"chatcmpl-{request_id}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": champion.model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(body)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        was_cached = cached is not None
        if cached is not None:
            yield chunk({"content": cached["answer"]})
            result = _from_cache(answerer, question, cached, 1000 * (time.perf_counter() - t0))
        else:
            pieces: list[str] = []
            with generating:
                found, contexts = answerer.retrieve([question], top_k)
                for piece in answerer.stream(question, contexts[0], max_tokens):
                    pieces.append(piece)
                    yield chunk({"content": piece})
            answer = "".join(pieces).strip()
            result = answerer.result(question, answer, found[0], contexts[0], 1000 * (time.perf_counter() - t0))
            cached = _entry(answerer, question, contexts[0], result)
            cache.set(key, cached)
        result = result.model_copy(update={"request_id": request_id})
        if record is not None:
            record(result)
        finish = "length" if cached["completion_tokens"] >= max_tokens else "stop"
        extra = _extra(answerer, was_cached, request_id, result.latency_ms)
        yield chunk({}, finish, sources=cached["sources"], llmops=extra, usage=_usage(cached))
        yield "data: [DONE]\n\n"

    return app


def _entry(answerer: Answerer, question: str, context: str, result: AskResult) -> dict[str, Any]:
    """What the cache keeps of a response: the answer, its sources and its token counts."""
    return {
        "answer": result.answer,
        "sources": _sources(result),
        "prompt_tokens": len(encode_prompt(answerer.tokenizer, answerer.template, question, context)),
        "completion_tokens": len(answerer.tokenizer(result.answer, add_special_tokens=False)["input_ids"]),
    }


def _usage(entry: dict[str, Any]) -> dict[str, int]:
    prompt, completion = entry["prompt_tokens"], entry["completion_tokens"]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _from_cache(answerer: Answerer, question: str, cached: dict[str, Any], latency_ms: float) -> AskResult:
    hits = [
        {"id": s["chunk_id"], "doc_id": s["doc_id"], "title": s["title"], "score": s["score"]}
        for s in cached["sources"]
    ]
    return answerer.result(question, cached["answer"], hits, "", latency_ms)


def _extra(answerer: Answerer, cached: bool, request_id: str, latency_ms: float) -> dict[str, Any]:
    return {
        "model_version": answerer.version,
        "collection": answerer.collection,
        "cached": cached,
        "request_id": request_id,
        "latency_ms": round(latency_ms, 1),
    }


def workdir_loader(
    mlflow: Any, milvus: Any, model_name: str, index_alias: str, embed: Any, root: Path, max_new_tokens: int
) -> Callable[[str, str], Answerer]:
    """`Champion.load`: each version in a directory of its own under `root`."""

    def load(version: str, collection: str) -> Answerer:
        return Answerer(
            mlflow, milvus, model_name, index_alias, embed, root / f"v{version}",
            max_new_tokens=max_new_tokens, version=version, collection=collection,
        )  # fmt: skip

    return load
