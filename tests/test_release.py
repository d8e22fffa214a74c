"""`pipeline release`: the step sequence, its state file, resuming, and the CI outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import commit_all

from pipeline.cli import main
from pipeline.release.outputs import write_dotenv, write_github
from pipeline.release.state import ReleaseState, load_state, state_path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "churn"


def release(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> tuple[int, str]:
    code = main(["release", "-C", str(project), *extra])
    return code, capsys.readouterr().err


def test_failed_step_stops_the_release_and_a_rerun_continues_there(
    git_project: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = git_project(EXAMPLE)
    dockerfile = project / "Dockerfile"
    good = dockerfile.read_text()
    dockerfile.write_text(good.replace("pip install --no-cache-dir", "pip install"))
    commit_all(project, "break the Dockerfile")

    code, err = release(capsys, project, "--to", "lint")
    assert code == 2
    assert "release stopped at lint: lint: " in err
    assert "`python -m pipeline release` continues from lint" in err
    assert json.loads(state_path(project).read_text())["done"] == ["split"]

    dockerfile.write_text(good)
    code, err = release(capsys, project, "--to", "lint")
    assert code == 0, err
    assert "▶ split" not in err  # done for this commit already
    assert "▶ lint" in err
    assert json.loads(state_path(project).read_text())["done"] == ["split", "lint"]


def test_state_belongs_to_one_commit(git_project: Callable[..., Path], capsys) -> None:
    project = git_project(EXAMPLE)
    assert release(capsys, project, "--only", "split")[0] == 0
    first = json.loads(state_path(project).read_text())
    assert first["done"] == ["split"]
    new_sha = commit_all(project, "feat: something new")
    assert load_state(project, new_sha) == ReleaseState(commit=new_sha)


def test_step_ranges_and_bad_combinations(git_project: Callable[..., Path], capsys) -> None:
    project = git_project(EXAMPLE)
    code, err = release(capsys, project, "--from", "push", "--to", "lint")
    assert code == 1
    assert "--from push comes after --to lint" in err
    code, err = release(capsys, project, "--only", "push")
    assert code == 1
    assert "no version decided" in err or "no candidate image" in err


def test_ci_outputs(tmp_path: Path) -> None:
    state = ReleaseState(
        commit="abc",
        done=["build", "push"],
        candidate="127.0.0.1:5000/examples/churn@sha256:" + "1" * 64,
        version="1.3.0",
        tags=["1.3.0", "1.3", "1", "latest", "sha-abc1234"],
    )
    output, summary = tmp_path / "out", tmp_path / "summary.md"
    write_github(state, {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)})
    assert output.read_text().splitlines() == [
        "version=1.3.0",
        "tags=1.3.0,1.3,1,latest,sha-abc1234",
        "digest=sha256:" + "1" * 64,
        "image=127.0.0.1:5000/examples/churn@sha256:" + "1" * 64,
    ]
    assert "| version | `1.3.0` |" in summary.read_text()
    dotenv = tmp_path / "release.env"
    write_dotenv(state, dotenv)
    assert dotenv.read_text().splitlines() == [
        "IMAGE_DIGEST=sha256:" + "1" * 64,
        "IMAGE_REF=127.0.0.1:5000/examples/churn@sha256:" + "1" * 64,
        "IMAGE_TAGS=1.3.0,1.3,1,latest,sha-abc1234",
        "VERSION=1.3.0",
    ]
