"""Start a deployment run through the worker and follow it to a final state, reporting its stages, with a timeout."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmops.errors import LLMOpsError
from llmops.settings import Settings

FLOW_OF = {
    "lifecycle": "lifecycle",
    "ingest": "ingest",
    "prepare": "prepare",
    "pretrain": "pretrain",
    "train": "train",
    "evaluate": "evaluate",
    "index": "index",
    "release": "release",
    "smoke": "smoke",
    "retrain": "lifecycle",
    "drift-check": "drift-check",
}


@dataclass
class RunOutcome:
    name: str
    state: str
    ok: bool
    url: str
    result: Any

    def summary(self) -> str:
        lines = [f"Flow run {self.name}: {self.state}", f"  {self.url}"]
        if isinstance(self.result, dict) and "drifted" in self.result:  # a drift report: the verdict only
            state = self.result.get("state", "drift" if self.result["drifted"] else "no_drift")
            lines += [f"  drift check: {state.replace('_', ' ')}", f"  drifted: {self.result['drifted']}"]
            lines += [f"  - {r}" for r in self.result.get("reasons", [])]
        elif isinstance(self.result, dict):
            lines += [f"  {k}: {v}" for k, v in self.result.items()]
            lines += _next_step(self.result)
        elif self.result is not None:
            lines.append(f"  {self.result}")
        return "\n".join(lines)


_ENGINE_CHATTER = re.compile(
    r"^(Finished in state|Created (task|subflow) run|Beginning (subflow )?run|Executing |Running on|View at |"
    r"Submitting|Opening process|Completed submission|Downloading flow code|Process \d+ exited|Worker '|"
    r"Flow run '.*' submitted|Running \d+ deployment pull step|Deployment step|All deployment steps|"
    r"Beginning flow run)"
)


def _next_step(result: dict[str, Any]) -> list[str]:
    """The command that chains the next stage on this result (a raw commit, a dataset)."""
    if {"content_sha256", "prefix", "commit"} <= result.keys():
        return [f"  next: llmops run prepare --raw {result['commit']}"]
    if {"raw_commit", "train", "tag"} <= result.keys():
        return [f"  next: llmops run index --dataset {result['tag']}  (or train, pretrain)"]
    return []


def _follow(run_id: Any, timeout_s: float, progress: Callable[[str], None], poll_s: float = 3.0) -> Any:
    """Wait for the flow run to end, reporting each stage (sub-flow run) as it starts and ends, and the
    runs' own log lines (steps, loss, tokens/s, ETA) as they arrive."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
        LogFilterLevel,
    )
    from prefect.client.schemas.sorting import LogSort

    stages = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id]))
    seen: dict[Any, str] = {}
    flows: dict[Any, str] = {}  # flow id -> flow name: a stage is known by its flow, a run by its made-up name
    shown_logs: set[Any] = set()
    started = time.monotonic()
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            children = sorted(client.read_flow_runs(flow_run_filter=stages), key=lambda r: r.expected_start_time)
            for child in children:
                state = child.state.name if child.state else "Pending"
                if seen.get(child.id) != state:
                    seen[child.id] = state
                    final = child.state is not None and child.state.is_final()
                    took = f" after {child.total_run_time.total_seconds():.0f} s" if final else ""
                    if child.flow_id not in flows:
                        flows[child.flow_id] = client.read_flow(child.flow_id).name
                    elapsed = time.monotonic() - started
                    progress(f"  [{elapsed:5.0f} s] {flows[child.flow_id]} ({child.name}): {state}{took}")
            logs = client.read_logs(
                LogFilter(
                    flow_run_id=LogFilterFlowRunId(any_=[run_id, *(c.id for c in children)]),
                    level=LogFilterLevel(ge_=20),
                ),
                sort=LogSort.TIMESTAMP_ASC,
                offset=len(shown_logs),
                limit=200,
            )
            for entry in logs:
                if entry.id in shown_logs:
                    continue
                shown_logs.add(entry.id)
                message = entry.message.strip()
                if message and not _ENGINE_CHATTER.match(message):
                    progress(f"      {message.splitlines()[0][:300]}")
            if run.state is not None and (run.state.is_final() or run.state.is_paused()):
                return run  # paused: waiting for a person (an approval form), which may take days
            if time.monotonic() - started > timeout_s:
                return run
            time.sleep(poll_s)


def failure_report(run: Any) -> str:
    """Which stage failed, with what message, and what to do: for a run that did not complete."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id]))
        )
        failed = [c for c in children if c.state is not None and (c.state.is_failed() or c.state.is_crashed())]
        stage = client.read_flow(failed[0].flow_id).name if failed else None
        message = (failed[0].state.message if failed else None) or (run.state.message if run.state else "") or ""
    where = f"stage {stage!r}" if stage else "the run"
    return (
        f"{where} failed: {message.strip() or 'no message recorded'}\n"
        "  What to do: fix what the message names (the input, a parameter or a setting) and run the same command "
        "again; the stages that completed are reused, not redone."
    )


def run_deployment_and_wait(
    settings: Settings,
    deployment: str,
    parameters: dict[str, Any],
    timeout_s: float,
    progress: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Start the deployment, follow it to the end (each stage reported to `progress`), return its outcome."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    flow_name = FLOW_OF.get(deployment, deployment)
    name = deployment if "/" in deployment else f"{flow_name}/{deployment}"
    try:
        run = run_deployment(name, parameters=parameters, timeout=0)
    except ObjectNotFound:
        raise LLMOpsError(f"no deployment {name!r}; run `llmops deploy` first") from None
    if progress is not None:
        progress(f"Flow run {run.name} started: {settings.prefect.base_url}/runs/flow-run/{run.id}")
    run = _follow(run.id, timeout_s, progress or (lambda line: None))
    state = run.state
    url = f"{settings.prefect.base_url}/runs/flow-run/{run.id}"
    if state is not None and state.is_paused():
        return RunOutcome(
            name=run.name,
            state=state.name or "Paused",
            ok=True,
            url=url,
            result=f"waiting for approval: fill in the form at {url}, or `llmops approve {run.name} --approver NAME "
            "--reason TEXT [--reject]`",
        )
    if state is None or not state.is_final():
        raise LLMOpsError(f"{name} run {run.name} did not finish within {timeout_s:.0f}s; follow it at {url}")
    result: Any = None
    if state.is_completed():
        try:
            value = state.result()
            result = value.model_dump() if hasattr(value, "model_dump") else value
        except Exception as exc:
            result = f"(result not available: {type(exc).__name__})"
    else:
        result = failure_report(run)
    return RunOutcome(
        name=run.name, state=state.name or state.type.value, ok=state.is_completed(), url=url, result=result
    )


def resume_with_input(flow_run: str, run_input: dict[str, Any]) -> Any:
    """Answer the input form of a paused or suspended flow run (by name or id), as the UI does."""
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(uuid.UUID(flow_run))
        except ValueError:
            found = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[flow_run])))
            if not found:
                raise LLMOpsError(f"no flow run named {flow_run!r}") from None
            run = found[0]
        if run.state is None or not run.state.is_paused():
            state = run.state.name if run.state else "no state"
            raise LLMOpsError(f"flow run {run.name} is {state}, not waiting for input")
        result = client.resume_flow_run(run.id, run_input=run_input)
        if result.status.value != "ACCEPT":
            raise LLMOpsError(f"flow run {run.name}: the answer was refused ({result.details.reason})")
        return run
