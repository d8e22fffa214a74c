"""`init` then `release` on real serving projects of different frameworks (issue 26, item 5):
each as its repository has it (tests/data/serving/README.md says where from and what was
adapted to this machine), through `init` with nothing but the image name and registry, then
`release --to smoke`: built, started and smoke-tested on the local stack.

Where init cannot write the smoke samples (it reads a schema only from a FastAPI app it can
start here), it says the user must write them, and the release stops in its preflight, before
a build, saying the same. The test then adds what a user would (tests/data/serving/samples/) and
releases again: it passes, or stops on what init's `to do:` named (a lint error), or on a bug of
the project's own that only running it shows.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from devstack import StackInfo
from tests.support.project import commit_all, run_pipeline

SERVING = Path(__file__).resolve().parent / "data" / "serving"
REGISTRY = "127.0.0.1:5000"
# project -> (what init detects, what init's `to do:` names (None: nothing), the step the release
# stops at after the samples are added (None: it passes smoke), and what it stops on)
PROJECTS: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "fastapi-iris": ("fastapi iris_fastapi:app (iris_fastapi.py); port 8200", None, None, None),
    # pip without --no-cache-dir: init says lint will stop the release, and it does
    "flask-xgboost": (
        "flask api:app (api.py); port 5000 from Flask's default port",
        "ML004",
        "lint",
        "ML004",
    ),
    "gradio-greet": ("gradio app.py; port 7860", "ML004", "lint", "ML004"),
    # The project's own bug, which only running it shows: its requirements pin nothing, and
    # `int(output)` of a 1-d prediction fails under NumPy 2; smoke says so, with the app's log.
    "litserve-xgboost": (
        "litserve server.py; port 8080",
        None,
        "smoke",
        "TypeError: only 0-dimensional arrays can be converted to Python scalars",
    ),
}


@pytest.mark.stack
@pytest.mark.parametrize("name", PROJECTS)
def test_init_then_release_smoke_tests_a_real_project(
    stack: StackInfo, tmp_path: Path, name: str
) -> None:
    import git

    detected, to_do, stops_at, stops_on = PROJECTS[name]
    project = shutil.copytree(SERVING / name, tmp_path / name)
    git.Repo.init(project, initial_branch="main")
    commit_all(project, "the project as its repository has it")
    env = stack.env(show_secrets=True)
    image = f"test-serving-{uuid.uuid4().hex[:8]}/{name}"

    done = run_pipeline(project, "init", "--image", image, "--registry", REGISTRY, env=env)
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert detected in said, said
    assert "smoke: no samples written: " in said
    if to_do:
        assert to_do in said.split("\nto do: ", 1)[-1], said
    commit_all(project, "chore: pipeline init")

    refused = run_pipeline(project, "release", "--to", "smoke", env=env)
    assert refused.returncode == 1
    assert "release preflight: smoke samples: " in refused.stderr
    assert "nothing was built" in refused.stderr

    shutil.copytree(SERVING / "samples" / name, project / "smoke")
    commit_all(project, "test: smoke samples")
    done = run_pipeline(project, "release", "--to", "smoke", env=env, timeout=1200)
    if stops_at is None:
        assert done.returncode == 0, done.stderr[-6000:]  # smoke passed: it is on by default
    else:
        assert done.returncode == 2, done.stderr[-6000:]
        assert f"error: release stopped at {stops_at}: " in done.stderr
        assert stops_on in done.stderr, done.stderr[-6000:]
