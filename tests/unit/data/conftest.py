"""Fixtures for the data library's tests: small input files and a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tasks.ingest.records import Record, SourceIssue

PAIR = {"prompt": "What does the tool do?", "response": "It prepares datasets for fine-tuning runs."}


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def split_items(items: list[Record | SourceIssue]) -> tuple[list[Record], list[SourceIssue]]:
    return [i for i in items if isinstance(i, Record)], [i for i in items if isinstance(i, SourceIssue)]


class _Handler(BaseHTTPRequestHandler):
    """Routes: /pairs.jsonl (200), /missing.jsonl (404), /slow.jsonl (sleeps past any test timeout),
    /flaky.jsonl (503 twice, then 200), /huge.jsonl (1 MB), /stream (JSONL by content type)."""

    calls: dict[str, int] = {}
    body = "".join(json.dumps({**PAIR, "id": f"web-{i}"}) + "\n" for i in range(3)).encode()

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        count = self.calls[self.path] = self.calls.get(self.path, 0) + 1
        if self.path == "/pairs.jsonl":
            self._send(200, self.body)
        elif self.path == "/slow.jsonl":
            time.sleep(1.0)
            self._send(200, self.body)
        elif self.path == "/flaky.jsonl":
            self._send(503, b"busy") if count <= 2 else self._send(200, self.body)
        elif self.path == "/huge.jsonl":
            self._send(200, self.body * 20_000)
        elif self.path == "/stream":
            self._send(200, self.body, "application/x-ndjson")
        else:
            self._send(404, b"not found", "text/plain")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (the timeout test) makes the late reply fail: expected here


@pytest.fixture(scope="session")
def http_base() -> Iterator[str]:
    """Base URL of a throw-away HTTP server on 127.0.0.1."""
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def handler_calls() -> dict[str, int]:
    _Handler.calls.clear()
    return _Handler.calls
