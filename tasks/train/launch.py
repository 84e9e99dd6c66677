"""Training in N processes from one task: the train stage launches torchrun itself on a multi-GPU pod.

A flow run is one process (`prefect flow-run execute`), so a pod given several GPUs would train on
one of them. `train(processes=N)` runs `train_lora` in this process for N = 1, and otherwise as N
ranks of `torch.distributed.run --standalone` (one per GPU, NCCL; gloo on CPUs), then returns what
rank 0 reports, as if the call had been made here:

- the inputs (config, rows, output directory) go to the ranks in one spec file;
- rank 0's metrics come back as JSON lines and reach `on_metrics` while the ranks train;
- a TrainingError raised in the ranks (a resume mismatch, unusable rows) is raised here again, the
  same class and message; any other failure is a TrainingError with the end of the ranks' output.

`processes_from_env()` reads `LLMOPS_TRAIN_PROCESSES`: a number, or `auto` for one per visible GPU
(what the GPU job template sets). No Prefect here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.train import errors
from tasks.train.config import FinetuneConfig
from tasks.train.loop import TrainResult, train_lora
from tasks.train.progress import MetricsCallback

PROCESSES_ENV = "LLMOPS_TRAIN_PROCESSES"
_POLL_S = 1.0
_TAIL_CHARS = 4000


def processes_from_env(environ: Mapping[str, str] | None = None) -> int:
    """How many training processes this machine should run: LLMOPS_TRAIN_PROCESSES, default 1."""
    raw = (environ if environ is not None else os.environ).get(PROCESSES_ENV, "1").strip().lower()
    if raw == "auto":
        import torch

        return max(1, torch.cuda.device_count())
    try:
        wanted = int(raw)
    except ValueError:
        wanted = 0
    if wanted < 1:
        raise errors.TrainingError(
            f"{PROCESSES_ENV}={raw!r}: give a number of processes (1 or more) or 'auto' for one per visible GPU"
        )
    return wanted


def _rows(rows: Any) -> list[dict[str, Any]] | None:
    if rows is None:
        return None
    if hasattr(rows, "to_dict"):
        return rows.to_dict(orient="records")
    return [dict(row) for row in rows]


def train(
    processes: int,
    config: FinetuneConfig,
    base_model_path: Path | str,
    train_rows: Any,
    eval_rows: Any,
    output_dir: Path,
    *,
    data_commit: str,
    on_metrics: MetricsCallback | None = None,
    run_key: str | None = None,
    log: Any = print,
) -> TrainResult:
    """`train_lora` in this process (processes=1) or in that many torchrun ranks; the same result either way."""
    if processes <= 1:
        return train_lora(
            config, base_model_path, train_rows, eval_rows, output_dir,
            data_commit=data_commit, on_metrics=on_metrics, run_key=run_key,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="llmops-ranks-") as scratch:
        work = Path(scratch)
        spec = {
            "config": config.model_dump(mode="json"),
            "base_model_path": str(base_model_path),
            "train_rows": _rows(train_rows),
            "eval_rows": _rows(eval_rows),
            "output_dir": str(output_dir),
            "data_commit": data_commit,
            "run_key": run_key,
            "metrics": str(work / "metrics.jsonl"),
            "result": str(work / "result.json"),
        }
        (work / "spec.json").write_text(json.dumps(spec, default=str))
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(processes), "-m", __name__, str(work / "spec.json"),
        ]  # fmt: skip
        log(f"training in {processes} processes (torchrun, one per device)")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_root(), os.environ.get("PYTHONPATH")])))
        env.pop(PROCESSES_ENV, None)  # the ranks must not launch ranks of their own
        with open(work / "output.log", "wb") as output:
            ranks = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
            forwarded = 0
            while True:
                done = ranks.poll() is not None
                forwarded = _forward_metrics(work / "metrics.jsonl", forwarded, on_metrics)
                if done:
                    break
                time.sleep(_POLL_S)
        return _outcome(ranks.returncode, work)


def _root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _forward_metrics(path: Path, seen: int, on_metrics: MetricsCallback | None) -> int:
    """Hand the complete lines past the first `seen` to `on_metrics`; the number of lines handed so far."""
    if not path.is_file():
        return seen
    lines = path.read_text().split("\n")[:-1]  # the last piece may be a line still being written
    for line in lines[seen:]:
        if on_metrics is not None:
            on_metrics(json.loads(line))
    return max(seen, len(lines))


def _outcome(returncode: int, work: Path) -> TrainResult:
    result = json.loads((work / "result.json").read_text()) if (work / "result.json").is_file() else None
    if result is not None and "error" in result:
        raise _rebuild(result["error"])
    if returncode != 0 or result is None:
        tail = (work / "output.log").read_text(errors="replace")[-_TAIL_CHARS:]
        raise errors.TrainingError(
            f"the training processes failed (torchrun exit status {returncode}); their last output:\n{tail}"
        )
    return TrainResult.model_validate(result)


def _report_error(exc: errors.TrainingError) -> dict[str, Any]:
    report: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, errors.ResumeMismatchError):
        report |= {"output_dir": exc.output_dir, "differences": exc.differences}
    return report


def _rebuild(report: dict[str, Any]) -> errors.TrainingError:
    if report["type"] == "ResumeMismatchError":
        return errors.ResumeMismatchError(
            report["output_dir"], {key: tuple(pair) for key, pair in report["differences"].items()}
        )
    cls = getattr(errors, report["type"], None)
    if not (isinstance(cls, type) and issubclass(cls, errors.TrainingError)):
        cls = errors.TrainingError
    return cls(report["message"])


def _leave_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _rank_main(spec_path: str) -> None:
    """One rank: train, rank 0 writing the metrics and the result (or the TrainingError) for the launcher."""
    spec = json.loads(Path(spec_path).read_text())
    is_main = os.environ.get("RANK", "0") == "0"
    with open(spec["metrics"] if is_main else os.devnull, "a", buffering=1) as metrics:

        def on_metrics(values: Mapping[str, Any]) -> None:
            metrics.write(json.dumps(dict(values), default=float) + "\n")

        try:
            result = train_lora(
                FinetuneConfig(**spec["config"]),
                spec["base_model_path"],
                spec["train_rows"],
                spec["eval_rows"],
                Path(spec["output_dir"]),
                data_commit=spec["data_commit"],
                on_metrics=on_metrics,
                run_key=spec["run_key"],
            )
        except errors.TrainingError as exc:
            if is_main:
                Path(spec["result"]).write_text(json.dumps({"error": _report_error(exc)}))
            sys.exit(1)
        finally:
            _leave_group()
    if is_main:
        Path(spec["result"]).write_text(result.model_dump_json())


if __name__ == "__main__":
    _rank_main(sys.argv[1])
