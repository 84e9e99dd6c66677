"""The drift check's inputs: a window of inference logs (current) against the champion's training prompts (reference).

    embedding drift   current prompts vs prompts of the champion's training data commit
    retrieval drift   top-1 similarity of current queries (logged) vs of reference prompts (searched now)
    output drift      response length and empty/refusal rate, current window vs the window before it
                      (the model's outputs on live traffic are the only fair reference for its outputs)

No Prefect here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel

from tasks.monitor.drift import DriftPolicy, DriftReport, check_drift
from tasks.monitor.plots import embedding_projection_png, top1_histogram_png
from tasks.serve import read_log_window
from tasks.services import lakefs as versioning
from tasks.services import milvus as milvus_service
from tasks.services.mlflow import CHAMPION
from tasks.train import Lineage

EVENT = "llmops.drift.detected"


class DriftWindow(BaseModel):
    model_name: str
    model_version: str
    reference_commit: str
    since: datetime
    until: datetime
    current_requests: int
    previous_requests: int


def reference_prompts(
    lakefs_client: Any, mlflow: Any, model_name: str, size: int, seed: int = 0
) -> tuple[list[str], str, str]:
    """(prompts, data commit, version): a sample of the champion's training prompts."""
    version = mlflow.get_model_version_by_alias(model_name, CHAMPION)
    lineage = Lineage.from_tags(version.tags)
    prompts = (
        versioning.read_dataframes(
            lakefs_client, lineage.lakefs_repository, lineage.lakefs_commit, [lineage.train_path]
        )["prompt"]
        .astype(str)
        .tolist()
    )
    random.Random(seed).shuffle(prompts)
    return prompts[:size], lineage.lakefs_commit, str(version.version)


def run_drift_check(
    lakefs_client: Any,
    mlflow: Any,
    milvus: Any,
    *,
    repository: str,
    model_name: str,
    index_alias: str,
    since: datetime,
    until: datetime,
    policy: DriftPolicy,
    embed: Callable[[list[str]], np.ndarray],
    reference_size: int = 500,
) -> tuple[DriftReport, DriftWindow, dict[str, bytes]]:
    """Compare the window [since, until) of the inference log with the reference; return report, window, plots."""
    current = read_log_window(lakefs_client, repository, since, until)
    previous = read_log_window(lakefs_client, repository, since - (until - since), since)
    ref_prompts, commit, version = reference_prompts(lakefs_client, mlflow, model_name, reference_size, policy.seed)
    cur_prompts = [r["question"] for r in current]
    ref_emb = embed(ref_prompts)
    cur_emb = embed(cur_prompts) if cur_prompts else np.zeros((0, ref_emb.shape[1]), dtype=np.float32)
    served = milvus_service.alias_target(milvus, index_alias) is not None  # no index yet: retrieval drift is skipped
    ref_top1 = (
        [hits[0]["score"] for hits in milvus_service.search(milvus, index_alias, ref_emb, 1) if hits] if served else []
    )
    cur_top1 = [r["hits"][0]["score"] for r in current if r["hits"]]
    report = check_drift(
        ref_emb,
        cur_emb,
        reference_outputs=[r["answer"] for r in previous] or None,
        current_outputs=[r["answer"] for r in current] or None,
        reference_top1=np.asarray(ref_top1) if ref_top1 else None,
        current_top1=np.asarray(cur_top1) if cur_top1 and ref_top1 else None,
        policy=policy,
    )
    plots: dict[str, bytes] = {}
    if len(cur_emb):
        plots["projection.png"] = embedding_projection_png(ref_emb, cur_emb)
    if cur_top1:
        plots["top1_similarity.png"] = top1_histogram_png(np.asarray(ref_top1), np.asarray(cur_top1))
    window = DriftWindow(
        model_name=model_name,
        model_version=version,
        reference_commit=commit,
        since=since,
        until=until,
        current_requests=len(current),
        previous_requests=len(previous),
    )
    return report, window, plots
