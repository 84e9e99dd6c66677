"""The serving endpoint's response cache against a real redis-server, and the in-memory default."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from llmops.errors import ConfigError
from tasks.serve import MemoryCache, RedisCache, cache_key, open_cache

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed: `make test` installs it (apt, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                open_cache(url)
                break
            except ConfigError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_response_cached_in_redis_is_shared_and_expires(redis_url: str) -> None:
    key = cache_key("3", "docs_abc", [{"role": "user", "content": "How do I  open a file?"}], {"max_tokens": 24})
    one, other = open_cache(redis_url, ttl_s=1), RedisCache(redis_url, ttl_s=1)  # two replicas
    assert isinstance(one, RedisCache) and one.get(key) is None
    one.set(key, {"answer": "with open()", "sources": [{"n": 1, "doc_id": "io"}]})
    assert other.get(key) == {"answer": "with open()", "sources": [{"n": 1, "doc_id": "io"}]}
    assert 0 < other.client.ttl(key) <= 1
    time.sleep(1.5)
    assert other.get(key) is None


def test_an_unreachable_redis_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="cannot reach Redis.*'memory'"):
        open_cache(f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(ConfigError, match="use 'memory', 'off' or a redis:// URL"):
        open_cache("memcached://x")


def test_the_key_holds_what_changes_the_answer_and_nothing_else() -> None:
    asked = [{"role": "user", "content": "How do I open a file?"}]
    key = cache_key("3", "docs_abc", asked, {"max_tokens": 24})
    assert key == cache_key(
        "3", "docs_abc", [{"role": "user", "content": "  How do I\nopen a file? "}], {"max_tokens": 24}
    )
    assert key != cache_key("4", "docs_abc", asked, {"max_tokens": 24})  # another model version
    assert key != cache_key("3", "docs_def", asked, {"max_tokens": 24})  # another collection
    assert key != cache_key("3", "docs_abc", asked, {"max_tokens": 64})
    assert key != cache_key(
        "3", "docs_abc", [{"role": "system", "content": "How do I open a file?"}], {"max_tokens": 24}
    )


def test_the_memory_cache_evicts_the_least_recently_used_and_expires() -> None:
    cache = MemoryCache(entries=2, ttl_s=60)
    cache.set("a", {"v": 1})
    cache.set("b", {"v": 2})
    assert cache.get("a") == {"v": 1}  # "a" is now the most recent
    cache.set("c", {"v": 3})
    assert cache.get("b") is None and cache.get("a") == {"v": 1} and cache.get("c") == {"v": 3}
    short = MemoryCache(entries=2, ttl_s=0.05)
    short.set("a", {"v": 1})
    time.sleep(0.1)
    assert short.get("a") is None
