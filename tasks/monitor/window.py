"""The drift check's inputs: a window of the champion's traffic (current) against its reference traffic.

    reference     the first `reference_requests` requests the champion served after its release (or a set
                  a user designated), recorded with the release: see reference.py. Until it is complete the
                  check reports `collecting_reference`; with `reference_fallback="training-prompts"` it
                  compares with a sample of the training prompts instead (documented, not recommended:
                  generated prompts are phrased unlike real questions, so in-domain traffic looks drifted).
    current       the requests the champion served in [since, until), less those in the reference
    embedding     current questions vs reference questions
    retrieval     top-1 similarity of current queries vs of the reference queries, both as logged
                  (a designated reference, which has no hits, is searched now)
    output        response length and empty/refusal rate, current vs reference responses of the same
                  model version (the training-prompts fallback uses the window before the current one)

No Prefect here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from tasks.monitor.drift import DriftPolicy, DriftReport, check_drift
from tasks.monitor.plots import embedding_projection_png, top1_histogram_png
from tasks.monitor.reference import (
    load_reference,
    record_reference,
    released_at,
    request_key,
    served_by,
)
from tasks.monitor.report import SampleSizes
from tasks.serve import read_log_window
from tasks.services import lakefs as versioning
from tasks.services import milvus as milvus_service
from tasks.services.mlflow import CHAMPION
from tasks.train import Lineage

EVENT = "llmops.drift.detected"

ReferenceKind = Literal["traffic", "designated", "training-prompts", "none"]


class DriftWindow(BaseModel):
    model_name: str
    model_version: str
    reference: ReferenceKind = Field(description="What the window was compared with.")
    reference_commit: str = Field(description="lakeFS commit of the reference (logs branch, or the training data).")
    reference_requests: int
    since: datetime
    until: datetime
    current_requests: int

    def describe_reference(self) -> str:
        if self.reference == "none":
            return "none yet"
        what = {
            "traffic": "the champion's first requests after its release",
            "designated": "a designated reference set",
            "training-prompts": "training prompts (fallback)",
        }[self.reference]
        return f"{what}, {self.reference_requests} rows, commit `{self.reference_commit[:12]}`"


def reference_prompts(
    lakefs_client: Any, mlflow: Any, model_name: str, size: int, seed: int = 0
) -> tuple[list[str], str, str]:
    """(prompts, data commit, version): a sample of the champion's training prompts (the fallback reference)."""
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


def _top1(records: list[dict[str, Any]]) -> list[float]:
    return [r["hits"][0]["score"] for r in records if r.get("hits")]


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
) -> tuple[DriftReport, DriftWindow, dict[str, bytes]]:
    """Compare the champion's traffic in [since, until) with its reference; return report, window, plots.

    The first call after `reference_requests` requests have arrived records them as the reference.
    """
    champion = mlflow.get_model_version_by_alias(model_name, CHAMPION)
    version = str(champion.version)
    found = load_reference(lakefs_client, mlflow, repository, model_name, version)
    if found is None:
        released = released_at(champion)
        # one read covers both the traffic since the release and the current window
        logged = served_by(read_log_window(lakefs_client, repository, min(released, since), until), model_name, version)
        served = [r for r in logged if datetime.fromisoformat(r["at"]) >= released]
        current = [r for r in logged if datetime.fromisoformat(r["at"]) >= since]
        if len(served) >= policy.reference_requests:
            rows = served[: policy.reference_requests]
            found = record_reference(lakefs_client, mlflow, repository, model_name, version, rows, "traffic"), rows
    else:
        current = served_by(read_log_window(lakefs_client, repository, since, until), model_name, version)

    if found is not None:
        reference, rows = found
        taken = {request_key(r) for r in rows}
        current = [r for r in current if request_key(r) not in taken]
        ref_prompts = [r["question"] for r in rows]
        ref_outputs = [r["answer"] for r in rows if r.get("answer") is not None] or None
        ref_top1 = _top1(rows)
        kind: ReferenceKind = reference.source
        commit = reference.lakefs_commit
    elif policy.reference_fallback == "training-prompts":
        ref_prompts, commit, _ = reference_prompts(
            lakefs_client, mlflow, model_name, max(policy.reference_requests, 500), policy.seed
        )
        before = read_log_window(lakefs_client, repository, since - (until - since), since)
        previous = served_by(before, model_name, version)
        ref_outputs = [r["answer"] for r in previous] or None
        ref_top1 = []
        kind = "training-prompts"
    else:
        window = DriftWindow(
            model_name=model_name,
            model_version=version,
            reference="none",
            reference_commit="",
            reference_requests=len(served),
            since=since,
            until=until,
            current_requests=len(current),
        )
        report = DriftReport.waiting(
            "collecting_reference",
            f"{model_name} v{version} has served {len(served)} of the {policy.reference_requests} requests that make "
            f"its reference since its release at {released:%Y-%m-%d %H:%M} UTC; the check compares with them once "
            "they have arrived (or designate a reference now: llmops drift reference FILE)",
            policy.alpha,
            {"embeddings": SampleSizes(reference=len(served), current=len(current))},
        )
        return report, window, {}

    window = DriftWindow(
        model_name=model_name,
        model_version=version,
        reference=kind,
        reference_commit=commit,
        reference_requests=len(ref_prompts),
        since=since,
        until=until,
        current_requests=len(current),
    )
    ref_emb = embed(ref_prompts)
    cur_prompts = [r["question"] for r in current]
    cur_emb = embed(cur_prompts) if cur_prompts else np.zeros((0, ref_emb.shape[1]), dtype=np.float32)
    cur_top1 = _top1(current)
    if not ref_top1 and cur_top1 and milvus_service.alias_target(milvus, index_alias) is not None:
        # a reference without logged hits (designated, or training prompts) is searched now
        ref_top1 = [hits[0]["score"] for hits in milvus_service.search(milvus, index_alias, ref_emb, 1) if hits]
    cur_outputs = [r["answer"] for r in current]
    report = check_drift(
        ref_emb,
        cur_emb,
        reference_outputs=ref_outputs,
        current_outputs=cur_outputs or None,
        reference_top1=np.asarray(ref_top1) if ref_top1 else None,
        current_top1=np.asarray(cur_top1) if cur_top1 and ref_top1 else None,
        policy=policy,
    )
    plots: dict[str, bytes] = {}
    if report.tests and len(cur_emb):
        plots["projection.png"] = embedding_projection_png(ref_emb, cur_emb)
        if cur_top1 and ref_top1:
            plots["top1_similarity.png"] = top1_histogram_png(np.asarray(ref_top1), np.asarray(cur_top1))
    return report, window, plots
