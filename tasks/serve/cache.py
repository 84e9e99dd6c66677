"""The serving endpoint's response cache: the same question to the same model and index is answered once.

A response is keyed by everything that decides it: the model version, the collection retrieved
from, the messages (roles kept, whitespace collapsed) and the generation parameters. Greedy
decoding makes that key sufficient. Two stores: `MemoryCache` in the server process (the embedded
default: an LRU with a time to live) and `RedisCache` for several replicas (production). No Prefect.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from llmops.errors import ConfigError

KEY_PREFIX = "llmops:serve:"


def _normalised(text: str) -> str:
    return " ".join(str(text).split())


def cache_key(
    model_version: str, collection: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> str:
    """A stable key for one request: sha256 over the version, collection, messages and parameters."""
    material = {
        "model_version": str(model_version),
        "collection": collection,
        "messages": [(str(m.get("role", "")), _normalised(m.get("content", ""))) for m in messages],
        "params": {k: params[k] for k in sorted(params)},
    }
    return KEY_PREFIX + hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class ResponseCache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any]) -> None: ...


class NoCache:
    def get(self, key: str) -> dict[str, Any] | None:
        return None

    def set(self, key: str, value: dict[str, Any]) -> None:
        return None


class MemoryCache:
    """At most `entries` responses, each for `ttl_s` seconds, least recently used evicted first."""

    def __init__(self, entries: int = 10_000, ttl_s: float = 3600.0) -> None:
        self.entries, self.ttl_s = entries, ttl_s
        self._items: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def set(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)


class RedisCache:
    """Responses in Redis (shared by every replica), each key expiring after `ttl_s` seconds."""

    def __init__(self, url: str, ttl_s: int = 3600) -> None:
        import redis

        self.ttl_s = ttl_s
        self.client = redis.Redis.from_url(url, socket_timeout=5)

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.client.get(key)
        return json.loads(raw) if raw is not None else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        self.client.set(key, json.dumps(value), ex=self.ttl_s)


def open_cache(url: str, ttl_s: int = 3600, entries: int = 10_000) -> ResponseCache:
    """The cache a LLMOPS_SERVE_CACHE_URL names: memory, off, or redis:// (rediss:// for TLS)."""
    if url == "memory":
        return MemoryCache(entries, ttl_s)
    if url == "off":
        return NoCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        cache = RedisCache(url, ttl_s)
        try:
            cache.client.ping()
        except Exception as exc:
            raise ConfigError(
                f"LLMOPS_SERVE_CACHE_URL: cannot reach Redis ({type(exc).__name__}: {exc}); start it, fix the URL, "
                "or use 'memory'"
            ) from None
        return cache
    raise ConfigError(f"LLMOPS_SERVE_CACHE_URL={url!r}: use 'memory', 'off' or a redis:// URL")
