"""One rank of the two-process DDP test (tests/unit/train/test_distributed.py), started by torchrun.

    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_worker.py SPEC.json

SPEC: base_dir, rows (training rows), config (FinetuneConfig fields), out (a fresh output directory),
resume_dir (a directory holding a one-process checkpoint) and report (where rank 0 writes what happened).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(spec_path: str) -> None:
    import torch

    from tasks.train.config import FinetuneConfig
    from tasks.train.errors import ResumeMismatchError
    from tasks.train.loop import train_lora

    torch.set_num_threads(1)
    spec = json.loads(Path(spec_path).read_text())
    config = FinetuneConfig(**spec["config"])
    result = train_lora(config, spec["base_dir"], spec["rows"], None, Path(spec["out"]), data_commit="ddp")
    refused = ""
    try:
        train_lora(config, spec["base_dir"], spec["rows"], None, Path(spec["resume_dir"]), data_commit="ddp")
    except ResumeMismatchError as exc:
        refused = str(exc)
    if int(os.environ["RANK"]) == 0:
        report = {"adapter_dir": str(result.adapter_dir), "steps": result.steps, "refused": refused}
        Path(spec["report"]).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
