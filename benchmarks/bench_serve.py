"""The serving endpoint under load: `llmops serve` against calling the model in-process, side by side.

On the champion a lifecycle left on the local stack (`make run`), one run of this script:

1. in-process: `tasks.serve.Answerer` (the object the endpoint wraps) answers each question directly,
   one after another, warm (loaded once, eight questions asked first and not timed);
2. endpoint: an `llmops serve` this script starts on a free port (response cache off, so every
   request generates) answers the same questions through the official `openai` client, at
   concurrency 1, 4 and 16 (threads, each with its own client), after eight warm-up requests;
3. cache: the same questions again at concurrency 16 with the cache on (all of them hits).

Reported per variant: p50 and p95 latency (ms), requests per second, and the ratio of the endpoint's
p50 at concurrency 1 to the in-process p50 (the cost of HTTP, JSON and the server). The endpoint
generates one request at a time (one model, shared CPUs), so concurrency raises latency, not
throughput; the cache is where concurrency pays.

    make run && python benchmarks/bench_serve.py [--out results.json] [--questions 24] [--requests 48] [--model M]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx

from infra import processes
from llmops import clients
from llmops.settings import load_serve_settings, load_settings
from tasks.serve import Answerer, held_out_questions
from tasks.services.embedding import embed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    ms = [1000 * v for v in latencies_s]
    return {
        "requests": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "requests_per_s": round(len(ms) / wall_s, 2),
    }


def start_server(port: int, model: str, alias: str, cache: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, LLMOPS_SERVE_PORT=str(port), LLMOPS_SERVE_MODEL=model, LLMOPS_SERVE_INDEX_ALIAS=alias)
    env["LLMOPS_SERVE_CACHE_URL"] = cache
    out = open(log, "w")
    server = subprocess.Popen([sys.executable, "-m", "llmops.cli", "serve"], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"llmops serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit("llmops serve did not start within 180 s")


def load(port: int, key: str, model: str, questions: list[str], concurrency: int, max_tokens: int) -> dict:
    import threading

    import openai

    local = threading.local()  # one client (one connection pool) per thread, made before its first request

    def ask(question: str) -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, timeout=600)
        t0 = time.perf_counter()
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], max_tokens=max_tokens
        )
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(ask, questions))
    return summary(latencies, time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out")
    parser.add_argument("--questions", type=int, default=24, help="Distinct held-out questions (at most the split's).")
    parser.add_argument("--requests", type=int, default=48, help="Requests per variant: the questions, cycled.")
    parser.add_argument("--model", default="llmops-assistant")
    parser.add_argument("--alias", default="llmops_docs")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    settings = load_settings()
    mlflow, milvus, lk = (
        clients.mlflow_client(settings),
        clients.milvus_client(settings),
        clients.lakefs_client(settings),
    )
    try:
        questions = held_out_questions(lk, mlflow, args.model, args.questions, seed=0)
    except Exception as exc:
        sys.exit(f"no champion of {args.model} on the local stack ({exc}); run `make run` first")
    questions = [questions[i % len(questions)] for i in range(max(args.requests, len(questions)))]
    key = load_serve_settings().api_key
    if key is None:
        sys.exit("no serving key: run `llmops up` first")
    report: dict = {"benchmark": "serve", "model": args.model, "questions": len(questions), "cpus": os.cpu_count()}

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch:
        answerer = Answerer(
            mlflow, milvus, args.model, args.alias, embed, Path(scratch), max_new_tokens=args.max_tokens
        )
        for question in questions[:8]:  # warm: the first calls pay for lazy initialisation
            answerer.ask([question])
        latencies = []
        t0 = time.perf_counter()
        for question in questions:
            t = time.perf_counter()
            answerer.ask([question])
            latencies.append(time.perf_counter() - t)
        report["in_process"] = summary(latencies, time.perf_counter() - t0)
        print(f"in-process:           {report['in_process']}")
        del answerer

        port = processes.free_port()
        server = start_server(port, args.model, args.alias, "off", Path(scratch) / "serve.log")
        try:
            load(port, key.get_secret_value(), args.model, questions[:8], 1, args.max_tokens)  # warm (loads)
            for concurrency in (1, 4, 16):
                result = load(port, key.get_secret_value(), args.model, questions, concurrency, args.max_tokens)
                report[f"endpoint_c{concurrency}"] = result
                print(f"endpoint, concurrency {concurrency:>2}: {result}")
        finally:
            server.terminate()
            server.wait(timeout=60)
        port = processes.free_port()
        server = start_server(port, args.model, args.alias, "memory", Path(scratch) / "serve-cached.log")
        try:
            load(port, key.get_secret_value(), args.model, questions, 4, args.max_tokens)  # fills the cache
            report["endpoint_cached_c16"] = load(
                port, key.get_secret_value(), args.model, questions, 16, args.max_tokens
            )
            print(f"endpoint, cached, 16: {report['endpoint_cached_c16']}")
        finally:
            server.terminate()
            server.wait(timeout=60)

    report["p50_ratio_endpoint_c1_over_in_process"] = round(
        report["endpoint_c1"]["p50_ms"] / report["in_process"]["p50_ms"], 3
    )
    print(f"\np50 endpoint (concurrency 1) / in-process: {report['p50_ratio_endpoint_c1_over_in_process']}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
