"""Every CI entry point runs the installed pipeline, never a project's own `pipeline.py` or
`pipeline/` (common in ML repositories): CI runs it from the repository root, where plain
`python -m pipeline` would import the project's module first and exit 0 having done nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "ci"))
import citools

VERSION = (citools.ROOT / "VERSION").read_text(encoding="utf-8").strip()
# A project's own pipeline, both ways it can shadow the tool; it "succeeds" at anything.
SHADOWS = {
    "pipeline.py": "print('the project pipeline')\n",
    "pipeline/__init__.py": "",
    "pipeline/__main__.py": "print('the project pipeline')\n",
}
INVOCATIONS = [
    (where, launcher)
    for where, script in citools.ci_scripts()
    for launcher, _ in citools.pipeline_invocations(script)
]


@pytest.fixture
def shadowing_project(tmp_path: Path) -> Path:
    for name, text in SHADOWS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _version(launcher: list[str], cwd: Path) -> str:
    # This interpreter's (it has the pipeline under test), the launcher's options kept.
    if launcher == ["pipeline"]:
        command = [str(Path(sys.executable).with_name("pipeline")), "--version"]
    else:
        command = [sys.executable, *launcher[1:], "--version"]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)
    return (result.stdout + result.stderr).strip()


def test_the_front_ends_run_the_pipeline_somewhere() -> None:
    wheres = {where.split(":")[0] for where, _ in INVOCATIONS}
    assert wheres >= {"release.yml", "ci/github/release.yml", "ci/github/action.yml"}, wheres


def test_plain_python_m_would_run_the_project_module(shadowing_project: Path) -> None:
    # The hazard the entry points avoid, so that the test below can tell them apart.
    assert _version(["python", "-m", "pipeline"], shadowing_project) == "the project pipeline"


@pytest.mark.parametrize(("where", "launcher"), INVOCATIONS, ids=[w for w, _ in INVOCATIONS])
def test_entry_point_runs_the_installed_pipeline(
    shadowing_project: Path, where: str, launcher: list[str]
) -> None:
    assert launcher[0] == "pipeline" or "-P" in launcher, (
        f"{where}: `{' '.join(launcher)}` imports ./pipeline.py first; use `python -P -m pipeline`"
    )
    assert _version(launcher, shadowing_project) == f"pipeline {VERSION}", where
