"""A person approves a release in the Prefect UI: the suspended lifecycle's input form, filled in Chromium.

The lifecycle runs through the worker with `policy.require_approval`; once its candidate passes the
gate the run is suspended (its process gone) and its page offers Resume. The form there is the
typed `ApprovalDecision` (decision, reason, approver); submitting it resumes the run, which
releases the candidate. Without /usr/bin/chromium or /usr/bin/chromedriver the test skips, or fails
when $CI is set.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from infra import local_stack
from llmops import clients, prefect_api
from llmops.settings import Settings, find_project_root
from tasks.evaluate import GatePolicy
from tests.e2e.test_lifecycle import PARAMS
from tests.e2e.test_ui_custom_run import UI, chrome_binaries, driver, screenshot_dir  # noqa: F401 - fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
TIMEOUT_S = 900


def _wait(settings: Settings, run_id, done, what: str):
    deadline = time.monotonic() + TIMEOUT_S
    with prefect_api.prefect_client(settings) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            if run.state is not None and done(run.state):
                return run
            assert run.state is None or not run.state.is_final(), f"{run.name} ended {run.state} before {what}"
            time.sleep(3)
    raise AssertionError(f"no {what} within {TIMEOUT_S} s")


def _field(label: str) -> str:
    """The text control of the form property whose label reads `label` (the run-input form of Prefect's UI)."""
    return f".//label[.//*[normalize-space()='{label}']]/ancestor::div[contains(@class, 'p-label ')][1]//textarea"


def test_a_release_is_approved_through_the_ui_form(
    chrome_binaries: None,  # noqa: F811
    running_stack: Settings,
    driver,  # noqa: F811
    screenshot_dir: Path,  # noqa: F811
) -> None:
    from prefect.deployments import run_deployment
    from selenium.webdriver.support.ui import Select

    local_stack.deploy(running_stack, find_project_root())
    model = f"ui-approval-{uuid.uuid4().hex[:6]}"
    # the e2e recipe (its data, index and base are reused from the lifecycle test), a new model, a gate that
    # lets its first candidate through, and a person's approval before the release
    policy = GatePolicy(thresholds={}, beat_base=False, require_approval=True)
    with prefect_api.prefect_context(running_stack):
        started = run_deployment(
            "lifecycle/lifecycle", parameters={**PARAMS, "model_name": model, "policy": policy}, timeout=0
        )
    _wait(running_stack, started.id, lambda s: s.is_paused(), "suspension for approval")

    ui = UI(driver, screenshot_dir, f"approval-{model}")
    try:
        driver.get(running_stack.prefect.base_url)
        ui.type_into(ui.visible("//input[@type='password']"), running_stack.prefect.auth_string.get_secret_value())
        ui.click("//button[@type='submit'][normalize-space()='Login']")
        ui.visible("//a[normalize-space()='Deployments']")
        driver.get(f"{running_stack.prefect.base_url}/runs/flow-run/{started.id}")
        ui.click("//button[normalize-space()='Resume']")
        dialog = ui.visible("//*[@role='dialog']")
        assert f"{model} v1 passed the gate" in dialog.text, dialog.text
        Select(ui.visible(".//select[not(contains(@class, 'placeholder'))]", dialog)).select_by_value("approve")
        ui.type_into(ui.visible(_field("Reason"), dialog), "read 20 answers: they cite their passages")
        ui.type_into(ui.visible(_field("Approver"), dialog), "erin")
        ui.screenshot("1-approval-form")
        ui.click(".//button[normalize-space()='Submit']", dialog)
        ui.wait.until(lambda d: not [x for x in d.find_elements("xpath", "//*[@role='dialog']") if x.is_displayed()])
        ui.screenshot("2-resumed")
        driver.get("about:blank")  # the run page's live graph would take a core from the run
    except Exception:
        ui.screenshot("failure")
        raise

    done = _wait(running_stack, started.id, lambda s: s.is_final(), "the end of the run")
    assert done.state.is_completed() and done.state.name == "Completed", done.state
    mlflow = clients.mlflow_client(running_stack)
    champion = mlflow.get_model_version_by_alias(model, "champion")
    assert (champion.tags["llmops.approval"], champion.tags["llmops.approval_by"]) == ("approved", "erin")
    assert champion.tags["llmops.approval_reason"] == "read 20 answers: they cite their passages"
