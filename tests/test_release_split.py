"""`release` checks the split files only where the Dockerfile installs them (issue 14, item 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.project.dockerfile import parse
from pipeline.requirements.split import uses_split_files
from tests.support.project import commit_all

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "churn"
ONE_STEP = """FROM python:3.11-slim
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
"""


def test_a_dockerfile_without_the_split_files_is_not_held_to_them(
    git_project: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Stumble 2: the release stopped at split, the split files missing, though this
    # Dockerfile never uses them.
    project = git_project(EXAMPLE)
    for name in ("requirements-base.txt", "requirements-app.txt"):
        (project / name).unlink()
    (project / "Dockerfile").write_text(ONE_STEP)
    commit_all(project, "one-step install")
    assert main(["release", "-C", str(project), "--only", "split"]) == 0
    err = capsys.readouterr().err
    assert "split: not checked: Dockerfile installs neither requirements-base.txt nor" in err


def test_a_dockerfile_with_the_split_files_still_needs_them_fresh(
    git_project: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = git_project(EXAMPLE)
    (project / "requirements-app.txt").unlink()
    commit_all(project, "lose a split file")
    assert main(["release", "-C", str(project), "--only", "split"]) == 2
    assert "requirements-app.txt" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("run", "uses"),
    [
        ("pip install --no-cache-dir -r /tmp/requirements-base.txt", True),
        ("python -m pip install --requirement=requirements-app.txt", True),
        ("uv pip install -r requirements.txt", False),
        ("pip install fastapi", False),
    ],
)
def test_which_dockerfiles_use_the_split_files(run: str, uses: bool) -> None:
    assert uses_split_files(parse(f"FROM python:3.11-slim\nRUN {run}\n")) is uses
