"""Run the server: ``python -m infra.lakefs_server --host 127.0.0.1 --port N --data-dir DIR --credentials-file FILE``.

One process, uvicorn, logs on stdout. It binds only to the host given (loopback by default).
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from infra.lakefs_server.app import create_app
from infra.lakefs_server.guard import DEFAULT_MAX_BODY_BYTES

# How long in-flight requests may run on shutdown (SIGINT/SIGTERM) before connections are cut.
GRACEFUL_SHUTDOWN_S = 10


def _log_config(level: str) -> dict:
    """uvicorn's logging, all of it on stdout, plus this server's own logger."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["default"]["stream"] = "ext://sys.stdout"
    config["loggers"]["lakefs_server"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["loggers"]["uvicorn"]["level"] = level.upper()
    return config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.lakefs_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default: 8000)")
    parser.add_argument("--data-dir", type=Path, required=True, help="directory for the SQLite metadata and blobs")
    parser.add_argument(
        "--credentials-file",
        type=Path,
        required=True,
        help='JSON file: {"access_key_id": ..., "secret_access_key": ...}',
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body accepted; a larger one gets 413 (default: {DEFAULT_MAX_BODY_BYTES})",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        app = create_app(args.data_dir, args.credentials_file, args.max_body_bytes)
    except ValueError as exc:
        logging.basicConfig(stream=sys.stdout)
        logging.getLogger("lakefs_server").error("cannot start: %s", exc)
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=_log_config(args.log_level),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
