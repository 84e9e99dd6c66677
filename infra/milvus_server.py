"""Milvus Lite's gRPC server with authentication: every call must carry the stack's token.

    python -m infra.milvus_server --data-dir DIR --host 127.0.0.1 --port N --credentials-file FILE

`milvus-lite server` has no authentication of its own (no users, no tokens, no TLS). This runs the
same engine and servicer on a gRPC server whose interceptor checks the `authorization` metadata
that pymilvus sends for `MilvusClient(token=...)` (base64 of the token) before any handler runs;
other calls end with UNAUTHENTICATED. The token is read from a JSON file (`{"token": ...}`), never
from the command line, so it does not show in the process list.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

# The engine's own limit on message size (Milvus standalone's too).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
WORKERS = 10
GRACE_S = 5.0


class TokenInterceptor(grpc.ServerInterceptor):
    """Lets a call through only with `authorization: base64(token)`, compared in constant time."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("empty token")
        self._expected = base64.b64encode(token.encode())
        self._deny = grpc.unary_unary_rpc_method_handler(self._refuse)

    @staticmethod
    def _refuse(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token (LLMOPS_MILVUS_TOKEN)")

    def intercept_service(self, continuation, handler_call_details):
        sent = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        sent = sent.encode() if isinstance(sent, str) else bytes(sent)
        if hmac.compare_digest(sent, self._expected):
            return continuation(handler_call_details)
        return self._deny


def build_server(data_dir: Path, token: str) -> tuple[grpc.Server, Any]:
    from milvus_lite.adapter.grpc.servicer import MilvusServicer
    from milvus_lite.db import MilvusLite
    from pymilvus.grpc_gen import milvus_pb2_grpc

    db = MilvusLite(str(data_dir))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS),
        interceptors=[TokenInterceptor(token)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
    return server, db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.milvus_server", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    parser.add_argument("--credentials-file", type=Path, required=True, help='JSON file: {"token": ...}')
    args = parser.parse_args(argv)
    try:
        token = json.loads(args.credentials_file.read_text())["token"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cannot start: {args.credentials_file}: expected JSON with a token ({exc})", file=sys.stderr)
        return 2
    server, db = build_server(args.data_dir, token)
    server.add_insecure_port(f"{args.host}:{args.port}")  # loopback only: the launcher binds nothing else
    server.start()
    print(f"Milvus Lite on {args.host}:{args.port} (data {args.data_dir}), token required", flush=True)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    server.stop(grace=GRACE_S).wait()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
