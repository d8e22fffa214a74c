"""`release` mistakes found before anything is built, pushed, tagged or written (issue 25).

Real git repositories and `python -m pipeline` run as a user runs it; the registry named is a
closed port, so no engine and no stack are used.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from tests.support.project import EXAMPLE, commit_all, run_pipeline

NOTHING_DONE = "nothing was built, pushed, tagged or written"
# A closed port: the registry check fails at once, beside the check under test.
OFFLINE = "registry:\n  url: 127.0.0.1:9\n  retries: 0\n"


@pytest.fixture(autouse=True)
def outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI_COMMIT_REF_NAME", "GITHUB_REF_NAME"):
        monkeypatch.delenv(name, raising=False)


def refused(project: Path, *args: str) -> str:
    """`release ARGS` stops in the preflight with nothing done; its stderr."""
    result = run_pipeline(project, "release", *args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "▶" not in result.stderr
    assert NOTHING_DONE in result.stderr
    assert git.Repo(project).tags == [] and not (project / ".pipeline").exists()
    return result.stderr


def test_no_smoke_samples_stop_the_release_before_the_build(
    git_project: Callable[..., Path],
) -> None:
    # It used to build and push the candidate, then fail at smoke.
    project = git_project(EXAMPLE, OFFLINE)
    shutil.rmtree(project / "smoke")
    commit_all(project, "chore: no samples")
    err = refused(project)
    assert (
        f"  smoke samples: smoke.samples_dir: {project}/smoke is not a directory; add sample "
        "payloads there"
    ) in err


def test_an_unreadable_sample_stops_the_release_before_the_build(
    git_project: Callable[..., Path],
) -> None:
    project = git_project(EXAMPLE, OFFLINE)
    (project / "smoke" / "single.json").write_text('{"features": [1, 2,]}\n')
    commit_all(project, "chore: a broken sample")
    err = refused(project)
    sample = project / "smoke" / "single.json"
    assert f"  smoke samples: {sample}:1:20: invalid JSON: Expecting value" in err


def test_samples_are_not_needed_when_smoke_is_off(git_project: Callable[..., Path]) -> None:
    project = git_project(EXAMPLE, OFFLINE + "smoke:\n  enabled: false\n")
    shutil.rmtree(project / "smoke")
    commit_all(project, "chore: no samples")
    assert "smoke samples" not in refused(project)


def test_bump_none_with_the_version_tagged_elsewhere_stops_in_preflight(
    git_project: Callable[..., Path],
) -> None:
    project = git_project(EXAMPLE, OFFLINE)
    repo = git.Repo(project)
    repo.create_tag(f"v{(project / 'VERSION').read_text().strip()}", message="an old release")
    commit_all(project, "fix: after the release")
    result = run_pipeline(project, "release", "--bump", "none")
    assert result.returncode == 1, result.stderr
    assert "\n  version: version " in result.stderr
    assert "is released already: tag v" in result.stderr and NOTHING_DONE in result.stderr
    assert "▶" not in result.stderr and not (project / ".pipeline").exists()


def preflight_error(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """`release ARGS` stops in the preflight; its stderr. Nothing was tagged."""
    result = run_pipeline(project, "release", *args, env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "▶" not in result.stderr
    assert NOTHING_DONE in result.stderr and git.Repo(project).tags == []
    return result.stderr


def test_a_state_dir_that_is_a_file_stops_the_release_in_preflight(
    git_project: Callable[..., Path],
) -> None:
    # Issue 25: the release pushed and tagged, then ended in a traceback (exit 3) saving state.
    project = git_project(EXAMPLE, OFFLINE)
    (project / ".pipeline").write_text("not a directory\n")
    err = preflight_error(project)
    state = project / ".pipeline" / "release-state.json"
    assert (
        f"  output files: release state {state}: {project / '.pipeline'} is a file, where a "
        "directory must be; remove it or name another path"
    ) in err
    assert (project / ".pipeline").read_text() == "not a directory\n"


def test_a_state_file_that_is_a_directory_stops_the_release_in_preflight(
    git_project: Callable[..., Path],
) -> None:
    project = git_project(EXAMPLE, OFFLINE)
    state = project / ".pipeline" / "release-state.json"
    state.mkdir(parents=True)
    err = preflight_error(project)
    assert f"  output files: release state {state}: is a directory; remove it" in err
    assert state.is_dir() and list(state.parent.iterdir()) == [state]


def test_unwritable_ci_outputs_stop_the_release_in_preflight(
    git_project: Callable[..., Path], tmp_path: Path
) -> None:
    project = git_project(EXAMPLE, OFFLINE)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    env = {"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(blocker / "summary.md")}
    err = preflight_error(project, "--dotenv", str(blocker / "release.env"), env=env)
    assert f"GITHUB_OUTPUT {outputs}: is a directory; remove it or name a file" in err
    assert f"GITHUB_STEP_SUMMARY {blocker / 'summary.md'}: {blocker} is a file, where" in err
    assert f"--dotenv {blocker / 'release.env'}: {blocker} is a file, where" in err


def test_steps_without_a_preflight_still_say_why_the_state_cannot_be_saved(
    git_project: Callable[..., Path],
) -> None:
    project = git_project(EXAMPLE, OFFLINE)
    (project / ".pipeline").write_text("not a directory\n")
    result = run_pipeline(project, "release", "--only", "split")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    state = project / ".pipeline" / "release-state.json"
    assert f"error: {state}: cannot save the release state: File exists;" in result.stderr
    assert "; .pipeline must be a directory the release can write" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("CI_PIPELINE_SOURCE", "merge_request_event"), ("GITHUB_EVENT_NAME", "pull_request")],
)
def test_a_merge_request_pipeline_never_releases(
    git_project: Callable[..., Path], name: str, value: str
) -> None:
    # Issue 25: a GitLab merge-request pipeline released a stable version and latest from the
    # merged-result commit and pushed a release commit to the source branch.
    project = git_project(EXAMPLE, OFFLINE)
    err = preflight_error(project, env={name: value})
    assert (
        f"\n  ci event: {name}={value}: a merge request's pipeline runs unmerged code, and a "
        "release of it would push a version, latest and a release commit as if it were merged; "
        "build and smoke test it here (release --to smoke), and release from the branch's "
        "pipeline after the merge\n"
    ) in err
    smoke_only = run_pipeline(project, "release", "--to", "smoke", env={name: value})
    assert "ci event" not in smoke_only.stderr


def test_an_app_without_a_health_route_stops_the_release_before_the_build(
    git_project: Callable[..., Path],
) -> None:
    project = git_project(EXAMPLE, OFFLINE)
    app = project / "serve" / "app.py"
    app.write_text(app.read_text().replace('@app.get("/health")', '@app.get("/healthz")'))
    commit_all(project, "fix: a health route of another name")
    err = refused(project)
    assert (
        "\n  health route: the app declares GET /healthz (serve/app.py), POST /predict "
        "(serve/app.py), GET /gpu-info (serve/app.py) but no /health, which the smoke test "
        "waits for (GET /health answering 200 once the model is loaded); add one, e.g. "
        '@app.get("/health"), or set smoke.health to the route the app has\n'
    ) in err


def test_an_app_whose_source_shows_no_routes_gets_no_verdict(
    git_project: Callable[..., Path],
) -> None:
    project = git_project(EXAMPLE, OFFLINE)
    app = project / "serve" / "app.py"
    app.write_text(app.read_text().replace('@app.get("/health")', "@app.get(HEALTH)"))
    app.write_text(app.read_text().replace("@app.", "@register_"))
    commit_all(project, "chore: routes the source does not show")
    assert "health route" not in refused(project)
