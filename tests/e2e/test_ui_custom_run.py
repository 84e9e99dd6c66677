"""From the Prefect UI, as a user would: Deployments → lifecycle → Run → Custom run, change parameters
in the form, submit, and watch the flow run reach Completed on its page.

Headless Chromium through Selenium against the v2 (React) UI of the session's local stack. Elements
are found by what a user sees: link and button text, menu items by role, form fields by their
<label> (whose `for` names the control), tabs by role and text. The only structural anchors are the
breadcrumb's aria-label and the badge's data-slot on the flow-run page.

Screenshots go to $LLMOPS_SCREENSHOT_DIR (default: the test's tmp dir); their paths are printed.
Without /usr/bin/chromium or /usr/bin/chromedriver the test skips, or fails when $CI is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.schemas.objects import StateType

from infra import local_stack
from llmops import prefect_api
from llmops.settings import Settings, find_project_root

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1500)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
WAIT_S = 60  # one page or one element
RUN_TIMEOUT_S = 600  # the lifecycle on a small slice: 1-5 minutes on a shared CPU
TALLEST_WINDOW = 12000  # px: the cap of a full-page screenshot
PARAMS_WINDOW = 3000  # px: tall enough for every line of the run's parameters (a JSON view)
DONE = {"Completed", "NotPromoted"}  # the lifecycle's two COMPLETED state names
FAILED = {"Failed", "Crashed", "Cancelled", "Cancelling", "TimedOut"}

# What the form changes besides model_name, to keep the run small: records read, pretraining and fine-tuning
# steps, eval size.
LIMIT, MAX_STEPS, EVAL_EXAMPLES, EVAL_TOKENS = 300, 20, 16, 16
PRETRAIN_STEPS = 60


@pytest.fixture(scope="session")
def chrome_binaries() -> None:
    """Skip (or fail under CI, which installs them) before the stack starts if a binary is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        message = f"browser test needs {' and '.join(missing)}: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must install them, see .ci/run)")
        pytest.skip(message)


@pytest.fixture
def driver(chrome_binaries: None) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    with tempfile.TemporaryDirectory(prefix="llmops-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        browser.set_page_load_timeout(WAIT_S)
        try:
            yield browser
        finally:
            browser.quit()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    path = Path(os.environ.get("LLMOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class UI:
    """The few user gestures the test needs, each with an explicit wait."""

    def __init__(self, driver, screenshot_dir: Path, prefix: str) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        self.d = driver
        # the UI re-renders as data arrives: an element found a moment ago may be gone; look again
        self.wait = WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))
        self.dir = screenshot_dir
        self.prefix = prefix
        self.shots: list[Path] = []

    # -- finding -------------------------------------------------------------------------------------
    def visible(self, xpath: str, scope=None):
        from selenium.webdriver.common.by import By

        def find(_):
            for el in (scope or self.d).find_elements(By.XPATH, xpath):
                if el.is_displayed():
                    return el
            return False

        return self.wait.until(find, f"nothing visible at {xpath}")

    def click(self, xpath: str, scope=None):
        from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException

        def attempt(_):
            try:
                el = self.visible(xpath, scope)
                self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
                if not el.is_enabled():
                    return False
                el.click()
                return el
            except (ElementClickInterceptedException, StaleElementReferenceException):
                return False

        return self.wait.until(attempt, f"could not click {xpath}")

    def field(self, label: str, scope=None):
        """The form field whose <label> reads `label`: the element (a div) that holds label and control."""
        return self.visible(f".//label[normalize-space()={_xpath_str(label)}]/ancestor::div[fieldset][1]", scope)

    def control(self, field):
        """The input/textarea a field's label points at (its `for`), else the field's only input."""
        from selenium.webdriver.common.by import By

        return self.labelled(field.find_element(By.XPATH, ".//label"), field)

    def labelled(self, label, scope=None):
        """The control a <label> names with `for` (an input or textarea)."""
        from selenium.webdriver.common.by import By

        if isinstance(label, str):
            label = self.visible(f".//label[normalize-space()={_xpath_str(label)}]", scope)
            scope = None
        target = label.get_attribute("for")
        found = self.d.find_elements(By.ID, target) if target else []
        if found and found[0].tag_name in ("input", "textarea"):
            return found[0]
        if scope is None:
            raise AssertionError(f"label {label.text!r} names no input or textarea")
        return self.visible("./fieldset//*[self::input or self::textarea]", scope)

    # -- acting --------------------------------------------------------------------------------------
    def choose_tab(self, field, name: str) -> None:
        """Pick one alternative of an optional/union field (the tabs `SourceConfig | None`, `int | None`)."""
        tab = self.click(
            f"(./fieldset//*[@role='tablist'])[1]/*[@role='tab'][normalize-space()={_xpath_str(name)}]", field
        )
        self.wait.until(lambda _: tab.get_attribute("aria-selected") == "true", f"tab {name} not selected")

    def type_into(self, control, value: object) -> None:
        """Replace a control's value with keystrokes, as a user does (React sees real input events)."""
        from selenium.webdriver.common.keys import Keys

        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", control)
        control.click()
        control.send_keys(Keys.CONTROL, "a")  # typing then replaces the selection
        control.send_keys(str(value))
        self.wait.until(
            lambda _: control.get_attribute("value") == str(value),
            f"field kept {control.get_attribute('value')!r}, expected {value!r}",
        )

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        path = self.dir / f"{self.prefix}-{name}.png"
        if full_page:  # a window as tall as the page shows the whole form in one image
            self.d.execute_script("window.scrollTo(0, 0)")
            height = self.d.execute_script(
                "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
            )
            with self.tall_window(int(height) + 200):
                self.d.save_screenshot(str(path))
        else:
            self.d.save_screenshot(str(path))
        self.shots.append(path)
        print(f"screenshot: {path}")
        return path

    @contextlib.contextmanager
    def tall_window(self, height: int) -> Iterator[None]:
        size = self.d.get_window_size()
        self.d.set_window_size(size["width"], min(height, TALLEST_WINDOW))
        try:
            yield
        finally:
            self.d.set_window_size(size["width"], size["height"])


def _xpath_str(text: str) -> str:
    """An XPath string literal for `text` (labels here hold no quotes, but be safe)."""
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + "', \"'\", '".join(text.split("'")) + "')"


def _state_badge_text(ui: UI) -> str:
    """The state badge next to the run's breadcrumb (Runs › <name>), e.g. Running or Completed."""
    from selenium.webdriver.common.by import By

    badges = ui.d.find_elements(
        By.XPATH, "//nav[@aria-label='breadcrumb']/following-sibling::*[1]//*[@data-slot='badge']"
    )
    return badges[0].text.strip() if badges and badges[0].is_displayed() else ""


def _wait_for_final_state(ui: UI, settings: Settings, flow_run_id: str) -> str:
    """The state the run page shows once the run is over.

    The page is watched until the run has started, then left for a blank page while the run works:
    its live logs and task graph are drawn by software GL, which takes most of a core of a two-core
    machine away from the run (measured: the same slice took 10 minutes instead of 4). The run's
    state is polled from the API meanwhile, and the page is opened again to read the final state.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    seen: list[str] = []
    run_page = ui.d.current_url

    def badge(_, wanted: set[str]):
        try:
            text = _state_badge_text(ui)
        except (StaleElementReferenceException, WebDriverException):
            return False
        if text and (not seen or seen[-1] != text):
            seen.append(text)
            print(f"run page shows: {text}")
        return text if text in wanted else False

    started = {"Running"} | DONE | FAILED
    WebDriverWait(ui.d, RUN_TIMEOUT_S, poll_frequency=2).until(
        lambda d: badge(d, started), f"the run page never showed the run starting (saw {seen})"
    )
    ui.d.get("about:blank")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with prefect_api.prefect_client(settings) as client:
        while not client.read_flow_run(flow_run_id).state.is_final():
            if time.monotonic() > deadline:
                raise AssertionError(f"the run did not finish within {RUN_TIMEOUT_S}s (the page showed {seen})")
            time.sleep(3)
    ui.d.get(run_page)
    wait = WebDriverWait(ui.d, WAIT_S, poll_frequency=1, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(lambda d: badge(d, DONE | FAILED), f"the run page never showed a final state (saw {seen})")


def _runs_named(settings: Settings, run_name: str) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with prefect_api.prefect_client(settings) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_name])))


def _submit(ui: UI, settings: Settings, run_name: str, attempts: int = 3) -> None:
    """Click Submit until the form page is left. On a loaded machine a click can land while the form is
    still settling and do nothing; a second click is safe only while no run of that name exists."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    form_url = ui.d.current_url
    for attempt in range(1, attempts + 1):
        ui.click("//button[@type='submit'][normalize-space()='Submit']")
        try:
            WebDriverWait(ui.d, 20).until(lambda d: d.current_url != form_url)
            return
        except TimeoutException:
            if _runs_named(settings, run_name):
                return  # created; the page is just slow to move on
            errors = [
                el.text
                for el in ui.d.find_elements(By.XPATH, "//*[@role='alert'] | //*[@aria-invalid='true']")
                if el.is_displayed() and el.text.strip()
            ]
            ui.screenshot(f"submit-attempt-{attempt}", full_page=True)
            assert not errors, f"the form reports: {errors}"
            print(f"Submit attempt {attempt} left the form open and created no run; clicking again")
    raise AssertionError(f"the custom-run form did not submit after {attempts} clicks")


def test_custom_run_from_the_ui_completes(
    chrome_binaries: None, running_stack: Settings, driver, screenshot_dir: Path
) -> None:
    local_stack.deploy(running_stack, find_project_root())
    token = uuid.uuid4().hex[:8]
    model_name = f"ui-test-{token}"
    run_name = f"ui-custom-run-{token}"
    ui = UI(driver, screenshot_dir, run_name)
    t0 = time.monotonic()
    try:
        # The API needs the stack's generated 'user:password': the UI asks for it on its login page.
        driver.get(running_stack.prefect.base_url)
        assert running_stack.prefect.auth_string is not None
        ui.type_into(ui.visible("//input[@type='password']"), running_stack.prefect.auth_string.get_secret_value())
        ui.screenshot("login")
        ui.click("//button[@type='submit'][normalize-space()='Login']")
        # Home redirects to the v2 dashboard; the sidebar leads to Deployments, then to lifecycle.
        ui.click("//a[normalize-space()='Deployments']")
        ui.click("//a[normalize-space()='lifecycle'][contains(@href, '/deployments/deployment/')]")

        # Run ▸ Custom run opens the parameter form.
        ui.click("//button[normalize-space()='Run'][@aria-haspopup='menu']")
        ui.click("//*[@role='menuitem'][normalize-space()='Custom run']")
        ui.field("model_name (Optional)")

        ui.type_into(ui.labelled("Run Name"), run_name)
        ui.type_into(ui.control(ui.field("model_name (Optional)")), model_name)
        # a small slice: source_config is `SourceConfig | None` (None by default), its limit `int | None`
        ui.choose_tab(ui.field("source_config (Optional)"), "SourceConfig")
        ui.choose_tab(ui.field("Limit (Optional)", ui.field("source_config (Optional)")), "int")
        ui.type_into(ui.control(ui.field("Limit (Optional)", ui.field("source_config (Optional)"))), LIMIT)
        ui.type_into(
            ui.control(ui.field("Max Steps (Optional)", ui.field("pretrain_config (Optional)"))), PRETRAIN_STEPS
        )
        ui.type_into(ui.control(ui.field("Max Steps (Optional)", ui.field("finetune (Optional)"))), MAX_STEPS)
        ui.type_into(ui.control(ui.field("Max Examples (Optional)", ui.field("eval_config (Optional)"))), EVAL_EXAMPLES)
        ui.type_into(ui.control(ui.field("Max New Tokens (Optional)", ui.field("eval_config (Optional)"))), EVAL_TOKENS)
        ui.screenshot("1-custom-run-form", full_page=True)

        _submit(ui, running_stack, run_name)
        # Back on the deployment, the new run is listed (and toasted) under the name we gave it.
        link = ui.visible(f"//a[normalize-space()='{run_name}'][contains(@href, '/runs/flow-run/')]")
        match = re.search(r"/runs/flow-run/([0-9a-f-]{36})", link.get_attribute("href") or "")
        assert match, f"unexpected run link {link.get_attribute('href')!r}"
        flow_run_id = match.group(1)
        ui.screenshot("2-submitted")
        ui.click(f"//a[normalize-space()='{run_name}'][contains(@href, '/runs/flow-run/')]")
        ui.wait.until(lambda d: flow_run_id in d.current_url, "the run link did not open the run page")
        ui.visible(f"//nav[@aria-label='breadcrumb']//*[normalize-space()='{run_name}']")

        final = _wait_for_final_state(ui, running_stack, flow_run_id)
        ui.screenshot("3-run-final")
        print(f"UI: run {run_name} ({flow_run_id}) showed {final} after {time.monotonic() - t0:.0f}s")
        assert final in DONE, f"the run ended {final} (screenshots: {[str(p) for p in ui.shots]})"

        # The run's Parameters tab shows the value we typed (a JSON editor that renders only the
        # lines in view: a tall window puts them all in view).
        tab = ui.click("//*[@role='tab'][normalize-space()='Parameters']")
        panel = f"//*[@role='tabpanel'][@id='{tab.get_attribute('aria-controls')}']"
        with ui.tall_window(PARAMS_WINDOW):
            ui.wait.until(
                lambda _: f'"model_name": "{model_name}"' in ui.visible(panel).text,
                "the run's Parameters tab does not show the model_name typed in the form",
            )
            ui.screenshot("4-run-parameters")
    except Exception:
        try:
            ui.screenshot("failure")
        except Exception:  # the browser itself may be gone
            pass
        raise

    with prefect_api.prefect_client(running_stack) as client:
        run = client.read_flow_run(flow_run_id)
        deployment = client.read_deployment(run.deployment_id)
    assert deployment.name == "lifecycle" and run.name == run_name
    assert run.state is not None and run.state.type == StateType.COMPLETED, run.state
    assert run.state.name == final
    params = run.parameters
    assert params["model_name"] == model_name
    assert params["source_config"]["limit"] == LIMIT
    assert params["finetune"]["max_steps"] == MAX_STEPS
    assert params["eval_config"]["max_examples"] == EVAL_EXAMPLES
    assert params["eval_config"]["max_new_tokens"] == EVAL_TOKENS
    # untouched fields keep the deployment's defaults from prefect.yaml
    assert params["pretrain_config"]["max_steps"] == PRETRAIN_STEPS
    assert params["finetune"]["per_device_batch_size"] == 8 and params["finetune"]["learning_rate"] == 0.005
