"""The layering contracts in pyproject.toml hold, and breaking one fails `lint-imports` (what `make test` runs).

Each case copies the project's packages into a temporary directory, adds one forbidden import, and
runs the real `lint-imports` there: the check must fail and name the contract that was broken.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.settings import find_project_root

ROOT = find_project_root(Path(__file__).parent)
PACKAGES = ("llmops", "flows", "tasks", "infra")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_project(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, so the packages analysed are the copy's, not the installed ones.
    env = {"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(project), "HOME": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_project(tmp_path_factory.mktemp("pristine"))


def test_the_project_keeps_every_contract(pristine: Path) -> None:
    result = _lint(pristine)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        (
            "tasks/prepare/shortcut.py",
            "from tasks.train import loop\n",
            "tasks.train: other code imports the package, not its modules",
        ),
        ("tasks/train/progress_events.py", "import prefect\n", "No Prefect in plain code"),
        ("tasks/ingest/uses_prepare.py", "from tasks.prepare import PrepConfig\n", "Layers:"),
        (
            "tasks/evaluate/scoring_hook.py",
            "from tasks.evaluate import tasks\n",
            "A stage's Prefect tasks are wired by flows only",
        ),
    ],
    ids=["another-stage's-module", "prefect-in-plain-code", "a-stage-above", "a-tasks-module-from-plain-code"],
)
def test_a_forbidden_import_fails_the_check(tmp_path: Path, module: str, source: str, contract: str) -> None:
    project = _copy_project(tmp_path)
    (project / module).write_text(f'"""A module that breaks the layering, for this test."""\n\n{source}')
    result = _lint(project)
    assert result.returncode != 0, result.stdout
    broken = result.stdout[result.stdout.index("Broken contracts") :]
    assert contract in broken, broken
    assert module.removesuffix(".py").replace("/", ".") in broken
