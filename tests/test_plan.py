"""Decided once: one candidate name for every step, and the release's plan that the steps carry.

No engine and no registry: the plans here need neither (no build, no push).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.console.output import Output
from pipeline.distribution.reference import ImageRef
from pipeline.project.gitinfo import GitInfo, git_info
from pipeline.release import steps
from pipeline.release.preflight import preflight
from pipeline.release.state import ReleaseState
from pipeline.versioning.image_tags import candidate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "churn"
CONFIG = "image:\n  name: churn\nregistry:\n  url: 127.0.0.1:5000/team\n"
REPOSITORY = ImageRef("127.0.0.1:5000", "team/churn")
SOURCE = GitInfo(sha="4f1c2ab" + "0" * 33, remote_url=None, branch="main", committed_at=0)


def test_the_candidate_names_the_commit_or_says_it_is_not() -> None:
    assert str(candidate(REPOSITORY, SOURCE)) == "127.0.0.1:5000/team/churn:sha-4f1c2ab"
    dirty = dataclasses.replace(SOURCE, dirty=True)
    assert candidate(REPOSITORY, dirty) == REPOSITORY.with_tag("sha-4f1c2ab-dirty")


def test_the_candidate_keeps_the_repository_and_drops_a_digest() -> None:
    pinned = REPOSITORY.with_digest("sha256:" + "a" * 64)
    assert candidate(pinned, SOURCE) == ImageRef("127.0.0.1:5000", "team/churn", "sha-4f1c2ab")


def test_the_version_is_decided_once_and_carried_to_its_step(
    git_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = git_project(EXAMPLE, CONFIG)
    config = load_config(project, environ={})
    source = git_info(project, "a test")
    state = ReleaseState(commit=source.sha)

    checks, plan = preflight(config, state, source, ["version"])

    assert checks == [] and plan is not None
    assert plan.decision is not None and str(plan.decision.version) == "0.1.0"
    assert plan.version == "0.1.0" and plan.tags[0] == "0.1.0"
    assert plan.target is None  # no step to do goes to the registry
    # The step writes what was decided: deciding, reading history or resolving again would fail.
    for name in ("decide_version", "read_history"):
        monkeypatch.setattr(f"pipeline.versioning.{name}", _never(name))
    monkeypatch.setattr("pipeline.registries.resolve_target", _never("resolve_target"))
    steps.version(steps.ReleaseRun(config, Output(), state, plan, smokes_here=False))
    assert (project / "VERSION").read_text() == "0.1.0\n"
    assert state.version == "0.1.0" and state.tags == plan.tags


def test_the_plan_carries_the_state_s_candidate_and_the_target(
    git_project: Callable[..., Path],
) -> None:
    project = git_project(EXAMPLE, CONFIG)
    config = load_config(project, environ={})
    source = git_info(project, "a test")
    built = f"{REPOSITORY.with_digest('sha256:' + 'b' * 64)}"
    state = ReleaseState(commit=source.sha, candidate=built, done=["build"])

    checks, plan = preflight(config, state, source, ["smoke"])

    assert [check.line() for check in checks] == [
        f"ok      candidate: {built}",
        "ok      smoke samples: 2 in smoke/",
        "ok      health route: /health named in serve/app.py",
    ]
    assert plan is not None
    assert plan.target is not None and plan.target.repository == REPOSITORY
    assert plan.candidate == ImageRef.parse(built)
    assert plan.decision is None and plan.history is None  # smoke needs no version
    described = plan.describe(["smoke"])
    assert described["candidate"] == built and described["repository"] == str(REPOSITORY)


def test_push_never_promotes_a_dirty_tree_s_candidate(
    git_project: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = git_project(EXAMPLE, CONFIG)
    (project / "serve" / "extra.py").write_text("x = 1\n")

    code = main(["push", "-C", str(project), "0.1.0"])

    err = capsys.readouterr().err
    assert code == 1
    sha = git_info(project, "a test").short_sha
    assert f"its candidate {REPOSITORY}:sha-{sha}-dirty is not a commit's image" in err
    assert "--image or --digest" in err


def _never(name: str) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        pytest.fail(f"{name} called again after the preflight")

    return fail
