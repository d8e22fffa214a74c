"""`init` then `release` on serving projects of different frameworks (issue 26, item 5): each
as its repository has it (tests/data/serving/README.md says where from and what was adapted to
this machine), through `init` with nothing but the image name and registry, then
`release --to smoke`: built, started and smoke-tested on the local stack.

Where init cannot write the smoke samples (it reads a FastAPI app's schema, started here, a
Triton repository's config.pbtxt and a BentoML service's @bentoml.api methods), it says the
user must write them, and the release stops in its preflight, before a build, saying the same.
The test then adds what a user would (tests/data/serving/samples/, and edits/ where init's
`to do:` says what else to change) and releases again: it passes, or stops on what init's
`to do:` named (a lint error), on a base image this machine cannot pull, or on a bug of the
project's own that only running it shows.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack import StackInfo
from tests.support.project import commit_all, run_pipeline

SERVING = Path(__file__).resolve().parent / "data" / "serving"
REGISTRY = "127.0.0.1:5000"


@dataclass(frozen=True, kw_only=True)
class Expected:
    detected: str = field(kw_only=False)  # what init says it detected
    to_do: str | None = None  # what its `to do:` names
    samples: bool = False  # init writes the smoke samples itself
    edits: bool = False  # the user makes what init's `to do:` says (tests/data/serving/edits/)
    stops_at: str | None = None  # the step the release stops at (None: it passes smoke)
    stops_on: str | None = None  # and what it stops on


PROJECTS = {
    "fastapi-iris": Expected("fastapi iris_fastapi:app (iris_fastapi.py); port 8200"),
    # pip without --no-cache-dir: init says lint will stop the release, and it does
    "flask-xgboost": Expected(
        "flask api:app (api.py); port 5000 from Flask's default port", to_do="ML004",
        stops_at="lint", stops_on="ML004",
    ),
    "gradio-greet": Expected(
        "gradio app.py; port 7860", to_do="ML004", stops_at="lint", stops_on="ML004"
    ),
    # The project's own bug, which only running it shows: its requirements pin nothing, and
    # `int(output)` of a 1-d prediction fails under NumPy 2; smoke says so, with the app's log.
    "litserve-xgboost": Expected(
        "litserve server.py; port 8080", stops_at="smoke",
        stops_on="TypeError: only 0-dimensional arrays can be converted to Python scalars",
    ),
    # `serve run` aborts on SIGTERM: init says so, and the user runs Serve from a script that
    # stops it (the README's), as its `to do:` says
    "ray-serve-iris": Expected(
        "ray-serve iris:app (iris.py); port 8000",
        to_do="`serve run` as the image's main process aborts on SIGTERM", edits=True,
    ),
    # init writes a request per @bentoml.api method from its JSON-typed parameters
    "bentoml-iris": Expected(
        "bentoml service:IrisClassifier (service.py); port 3000", samples=True
    ),
    # init writes the v2 infer request from config.pbtxt; Triton's base image is NGC's, which
    # this machine cannot pull (no internet): the build says so, naming it
    "triton-python": Expected(
        "triton model_repository/iris_centroid/1/model.py; port 8000", samples=True,
        stops_at="build", stops_on="nvcr.io/nvidia/tritonserver:24.08-py3",
    ),
}  # fmt: skip


@pytest.mark.stack
@pytest.mark.parametrize("name", PROJECTS)
def test_init_then_release_smoke_tests_a_real_project(
    stack: StackInfo, tmp_path: Path, name: str
) -> None:
    import git

    expected = PROJECTS[name]
    project = shutil.copytree(SERVING / name, tmp_path / name)
    git.Repo.init(project, initial_branch="main")
    commit_all(project, "the project as its repository has it")
    env = stack.env(show_secrets=True)
    image = f"test-serving-{uuid.uuid4().hex[:8]}/{name}"

    done = run_pipeline(project, "init", "--image", image, "--registry", REGISTRY, env=env)
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert expected.detected in said, said
    assert ("smoke: no samples written: " in said) is not expected.samples, said
    if expected.to_do:
        assert expected.to_do in said.split("\nto do: ", 1)[-1], said
    commit_all(project, "chore: pipeline init")

    if not expected.samples:
        refused = run_pipeline(project, "release", "--to", "smoke", env=env)
        assert refused.returncode == 1
        assert "release preflight: smoke samples: " in refused.stderr
        assert "nothing was built" in refused.stderr
        shutil.copytree(SERVING / "samples" / name, project / "smoke")
        if expected.edits:
            shutil.copytree(SERVING / "edits" / name, project, dirs_exist_ok=True)
        commit_all(project, "test: smoke samples, and what init said to do")
    done = run_pipeline(project, "release", "--to", "smoke", env=env, timeout=1200)
    if expected.stops_at is None:
        assert done.returncode == 0, done.stderr[-6000:]  # smoke passed: it is on by default
    else:
        # a failed check exits 2; a base image that cannot be pulled is the user's to fix: 1
        assert done.returncode == (1 if expected.stops_at == "build" else 2), done.stderr[-6000:]
        assert f"error: release stopped at {expected.stops_at}: " in done.stderr
        assert expected.stops_on in done.stderr, done.stderr[-6000:]
