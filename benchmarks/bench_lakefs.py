"""The lakeFS-compatible server against a plain file copy on the same disk.

Side by side in one run: upload and download throughput for 1 MB and 256 MB objects through the
official ``lakefs`` client, next to copying (write + fsync) and reading the same bytes as plain
files, and next to plain HTTP streaming (httpx, 8 MB pieces), which shows what the server itself
sustains without the client's own buffering; the server's peak RSS while it receives the 256 MB
upload (sampled from its pid with psutil); the time to commit 10,000 staged objects and to list
them.

    python benchmarks/bench_lakefs.py [--out results.json] [--small-count 32] [--large-mb 256] [--objects 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lakefs
from lakefs.client import Client

from infra.lakefs_server.runner import ServerProcess, write_credentials

MB = 1024 * 1024
KEY_ID, SECRET = "AKIABENCHMARK0000001", "benchmark-secret"
RSS_SAMPLE_S = 0.005
UPLOAD_THREADS = 8  # concurrent clients while staging the many small objects


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """Sample a process's resident memory until the block ends; yields {"before", "peak"}."""
    proc = psutil.Process(pid)
    result = {"before": proc.memory_info().rss, "peak": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            result["peak"] = max(result["peak"], proc.memory_info().rss)
            done.wait(RSS_SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join(timeout=5)


def copy_with_fsync(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as f:
        os.fsync(f.fileno())


def read_file(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def upload_file(branch: lakefs.Branch, path: str, local: Path) -> None:
    """What tasks.services.lakefs.upload_file does: stream a local file through the client's writer."""
    with open(local, "rb") as src, branch.object(path).writer("wb", pre_sign=False) as dst:
        shutil.copyfileobj(src, dst, 8 * MB)


def download(repo: lakefs.Repository, ref: str, path: str) -> bytes:
    with repo.ref(ref).object(path).reader("rb", pre_sign=False) as f:
        return f.read()


def http_upload(http: httpx.Client, path: str, local: Path) -> None:
    def pieces() -> Iterator[bytes]:
        with open(local, "rb") as f:
            while piece := f.read(8 * MB):
                yield piece

    http.post(
        "/repositories/bench/branches/main/objects",
        params={"path": path},
        content=pieces(),
        headers={"Content-Length": str(local.stat().st_size)},
    ).raise_for_status()


def http_download(http: httpx.Client, path: str) -> int:
    size = 0
    with http.stream("GET", "/repositories/bench/refs/main/objects", params={"path": path}) as answer:
        answer.raise_for_status()
        for piece in answer.iter_bytes(8 * MB):
            size += len(piece)
    return size


def with_new_content(original: Path, work: Path) -> Path:
    """A copy with its first byte flipped: the server stores each content once, so the plain-HTTP
    run needs bytes it has not seen to do the full work again."""
    variant = work / f"variant-{original.name}"
    shutil.copyfile(original, variant)
    with open(variant, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0xFF]))
    return variant


def throughput(label: str, files: list[Path], work: Path, repo: lakefs.Repository, server: ServerProcess) -> dict:
    total_mb = sum(f.stat().st_size for f in files) / MB
    branch = repo.branch("main")  # protection is switched off for the benchmark repository
    copy_s = timed(lambda: [copy_with_fsync(f, work / f"copy-{f.name}") for f in files])
    read_s = timed(lambda: [read_file(work / f"copy-{f.name}") for f in files])
    with peak_rss(server.process.pid) as rss:  # type: ignore[union-attr]
        upload_s = timed(lambda: [upload_file(branch, f"{label}/{f.name}", f) for f in files])
    download_s = timed(lambda: [download(repo, "main", f"{label}/{f.name}") for f in files])
    assert download(repo, "main", f"{label}/{files[0].name}") == files[0].read_bytes()
    variants = [with_new_content(f, work) for f in files]
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=(KEY_ID, SECRET), timeout=600) as http:
        http_up_s = timed(lambda: [http_upload(http, f"{label}-http/{v.name}", v) for v in variants])
        http_down_s = timed(lambda: [http_download(http, f"{label}-http/{v.name}") for v in variants])
    return {
        "objects": len(files),
        "total_mb": round(total_mb, 1),
        "file_copy_fsync_mb_s": round(total_mb / copy_s, 1),
        "upload_mb_s": round(total_mb / upload_s, 1),
        "http_upload_mb_s": round(total_mb / http_up_s, 1),
        "file_read_mb_s": round(total_mb / read_s, 1),
        "download_mb_s": round(total_mb / download_s, 1),
        "http_download_mb_s": round(total_mb / http_down_s, 1),
        "server_rss_before_mb": round(rss["before"] / MB, 1),
        "server_rss_peak_during_upload_mb": round(rss["peak"] / MB, 1),
    }


def http_list(http: httpx.Client, ref: str) -> int:
    """List a whole ref with plain HTTP, 1,000 per page: the server's share of a listing."""
    listed, after = 0, ""
    while True:
        page = http.get(f"/repositories/bench/refs/{ref}/objects/ls", params={"amount": 1000, "after": after}).json()
        listed += len(page["results"])
        if not page["pagination"]["has_more"]:
            return listed
        after = page["pagination"]["next_offset"]


def many_objects(repo: lakefs.Repository, server: ServerProcess, count: int) -> dict:
    branch = repo.branch("many").create("main")

    def stage(i: int) -> None:
        branch.object(f"objects/{i // 1000:02d}/{i:06d}.json").upload(f'{{"i": {i}}}', pre_sign=False)

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        stage_s = timed(lambda: list(pool.map(stage, range(count))))
    commit_s = timed(lambda: branch.commit(f"{count} objects"))
    listed: list[object] = []
    list_s = timed(lambda: listed.extend(branch.objects(amount=1000)))
    assert len(listed) == count
    list_default_s = timed(lambda: sum(1 for _ in repo.ref("many@").objects()))
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=(KEY_ID, SECRET), timeout=600) as http:
        counted: list[int] = []
        list_http_s = timed(lambda: counted.append(http_list(http, "many")))
    assert counted == [count]
    return {
        "objects": count,
        "stage_objects_per_s (8 client threads)": round(count / stage_s, 1),
        "commit_s": round(commit_s, 3),
        "list_s (lakefs client, pages of 1000)": round(list_s, 3),
        "list_s (lakefs client, default pages of 100)": round(list_default_s, 3),
        "list_s (plain HTTP, pages of 1000)": round(list_http_s, 3),
    }


COLUMNS = {  # result key -> table heading
    "file_copy_fsync_mb_s": "file copy+fsync MB/s",
    "upload_mb_s": "upload (lakefs) MB/s",
    "http_upload_mb_s": "upload (HTTP) MB/s",
    "file_read_mb_s": "file read MB/s",
    "download_mb_s": "download (lakefs) MB/s",
    "http_download_mb_s": "download (HTTP) MB/s",
    "server_rss_peak_during_upload_mb": "server peak RSS MB",
}


def print_table(results: dict) -> None:
    print(f"{'objects':<12}" + "".join(f"{title:>24}" for title in COLUMNS.values()))
    for name in ("1MB", "large"):
        row = results[name]
        label = f"{row['objects']} x {row['total_mb'] / row['objects']:.0f} MB"
        print(f"{label:<12}" + "".join(f"{row[key]:>24}" for key in COLUMNS))
    print(f"(server RSS before the uploads: {results['1MB']['server_rss_before_mb']} MB)")
    print()
    for key, value in results["many"].items():
        print(f"{key:<46} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--small-count", type=int, default=32, help="how many 1 MB objects")
    parser.add_argument("--large-mb", type=int, default=256)
    parser.add_argument("--objects", type=int, default=10_000, help="objects to commit and list")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the data (default: system temp)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-lakefs-", dir=args.workdir))
    try:
        sources, work = root / "sources", root / "copies"
        sources.mkdir()
        work.mkdir()
        small = []
        for i in range(args.small_count):
            small.append(sources / f"small-{i:03d}.bin")
            small[-1].write_bytes(os.urandom(MB))
        large = sources / "large.bin"
        with open(large, "wb") as f:
            for _ in range(args.large_mb):
                f.write(os.urandom(MB))

        server = ServerProcess(root / "data", write_credentials(root / "c.json", KEY_ID, SECRET), root / "server.log")
        server.start()
        try:
            client = Client(host=server.url, username=KEY_ID, password=SECRET)
            repo = lakefs.Repository("bench", client=client).create(storage_namespace="local://bench")
            client.sdk_client.repositories_api.set_branch_protection_rules(repo.id, [])
            results = {
                "1MB": throughput("small", small, work, repo, server),
                "large": throughput("large", [large], work, repo, server),
                "many": many_objects(repo, server, args.objects),
                "cpu_count": os.cpu_count(),
            }
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print_table(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
