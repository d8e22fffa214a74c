"""build.builder names the buildx builder the user or the CI set up (setup-buildx-action's
docker-container builder, a Kubernetes or remote BuildKit fleet); auto and buildx take the
current one. Here only the `docker` driver can run (no moby/buildkit image, no buildkitd):
a second engine context is a second builder of that driver, which is what the stack test
names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.engine.client import CONTAINERD_STORE
from pipeline.imagebuild.buildx import BuildRequest, Buildx, find_buildx

ROOT = Path(__file__).resolve().parents[1]


def _request(tmp_path: Path) -> BuildRequest:
    return BuildRequest(context=tmp_path, dockerfile=tmp_path / "Dockerfile", target=None, tag="x")


def test_a_named_builder_is_passed_to_every_build(tmp_path: Path) -> None:
    fleet = Buildx("docker", "fleet", "remote", "", named=True)
    assert fleet.command(_request(tmp_path), tmp_path / "m")[:5] == [
        "docker",
        "buildx",
        "--builder",
        "fleet",
        "build",
    ]
    # A docker-driver builder is a docker context, which buildx takes only as --context.
    context = Buildx("docker", "gpu-host", "docker", "", named=True)
    assert context.command(_request(tmp_path), tmp_path / "m")[:5] == [
        "docker",
        "--context",
        "gpu-host",
        "buildx",
        "build",
    ]
    current = Buildx("docker", "default", "docker", "")
    assert current.command(_request(tmp_path), tmp_path / "m")[:3] == ["docker", "buildx", "build"]


def test_a_builder_that_does_not_exist_is_named() -> None:
    if shutil.which("docker") is None:
        pytest.fail("no docker CLI on PATH (a test requirement)", pytrace=False)
    with pytest.raises(UserError, match=r"no buildx builder 'no-such-fleet'.*buildx create"):
        find_buildx(None, CONTAINERD_STORE, "no-such-fleet")


@pytest.fixture
def context_builder() -> Iterator[str]:
    """A docker context on the stack's engine: buildx lists it as a builder (docker driver)."""
    name = f"pipeline-test-{uuid.uuid4().hex[:8]}"
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    subprocess.run(
        ["docker", "context", "create", name, "--docker", f"host={host}"],
        check=True,
        capture_output=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["docker", "context", "rm", "-f", name], capture_output=True, check=False)


@pytest.mark.stack
def test_a_named_builder_builds_the_candidate(
    stack: object, tmp_path: Path, context_builder: str
) -> None:
    project = tmp_path / "churn"
    shutil.copytree(
        ROOT / "examples" / "churn", project, ignore=shutil.ignore_patterns(".pipeline")
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "churn"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)
    registry = (
        f"registry.url={os.environ['PIPELINE_LOCAL_REGISTRY']}/ci-builder-{uuid.uuid4().hex[:8]}"
    )
    build = subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "pipeline",
            "build",
            "--builder",
            context_builder,
            "--set",
            registry,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    assert f"builder {context_builder} (docker)" in build.stderr, build.stderr[-4000:]
