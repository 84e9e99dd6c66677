"""Start a deployment run through the worker and follow it to a final state, with a timeout."""

from __future__ import annotations

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
        elif self.result is not None:
            lines.append(f"  {self.result}")
        return "\n".join(lines)


def run_deployment_and_wait(
    settings: Settings, deployment: str, parameters: dict[str, Any], timeout_s: float
) -> RunOutcome:
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    flow_name = FLOW_OF.get(deployment, deployment)
    name = deployment if "/" in deployment else f"{flow_name}/{deployment}"
    try:
        run = run_deployment(name, parameters=parameters, timeout=timeout_s)
    except ObjectNotFound:
        raise LLMOpsError(f"no deployment {name!r}; run `llmops deploy` first") from None
    state = run.state
    url = f"{settings.prefect.base_url}/runs/flow-run/{run.id}"
    if state is None or not state.is_final():
        raise LLMOpsError(f"{name} run {run.name} did not finish within {timeout_s:.0f}s; follow it at {url}")
    result: Any = None
    if state.is_completed():
        try:
            value = state.result()
            result = value.model_dump() if hasattr(value, "model_dump") else value
        except Exception as exc:
            result = f"(result not available: {type(exc).__name__})"
    return RunOutcome(
        name=run.name, state=state.name or state.type.value, ok=state.is_completed(), url=url, result=result
    )
