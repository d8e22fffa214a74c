"""Stack-wide fixtures: the real local container stack that `pipeline.devstack` runs.

Test files keep their own fixtures; only what every stack test shares lives here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import docker

    from pipeline.devstack import StackInfo


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stack: needs the local container stack (python -m pipeline.devstack up)"
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """The stack, brought up once per session; its environment is set for the session.

    A stack that cannot come up fails the tests that need it: a skip would hide it in CI.
    """
    from pipeline.devstack import ensure_up

    try:
        info = ensure_up()
    except Exception as exc:  # any reason at all is a failure to report, with its message
        pytest.fail(f"the local container stack did not come up: {exc}", pytrace=False)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in info.env(show_secrets=True).items():
            patch.setenv(key, value)
        yield info


@pytest.fixture(scope="session")
def docker_client(stack: StackInfo) -> Iterator[docker.DockerClient]:
    import docker

    # Pushes of a 240 MB base layer can outlast the SDK's 60 s default on a busy runner.
    client = docker.from_env(timeout=600)
    try:
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"the Docker engine does not answer: {exc}", pytrace=False)
    yield client
    client.close()


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Pipeline Tests",
    "GIT_AUTHOR_EMAIL": "tests@pipeline.invalid",
    "GIT_COMMITTER_NAME": "Pipeline Tests",
    "GIT_COMMITTER_EMAIL": "tests@pipeline.invalid",
}


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits made by tests and by the code under test need an author on a bare CI machine."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


def run_pipeline(
    project: Path, *argv: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline -C PROJECT ARGV` as a user runs it, without our shell's PIPELINE_*
    variables (plus `env`)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


def commit_all(project: Path, message: str) -> str:
    """Commit every change in `project`'s repository; returns the new commit's sha."""
    import git

    repo = git.Repo(project, search_parent_directories=True)
    repo.git.add(A=True)
    repo.git.commit(m=message, allow_empty=True)
    return repo.head.commit.hexsha


@pytest.fixture
def git_project(tmp_path: Path) -> Callable[..., Path]:
    """A model project copied into its own fresh git repository, with a pipeline.yaml."""
    import git

    def make(source: Path, config_yaml: str = "", name: str = "project") -> Path:
        project = tmp_path / name
        shutil.copytree(source, project, ignore=shutil.ignore_patterns("__pycache__"))
        if config_yaml:
            (project / "pipeline.yaml").write_text(config_yaml, encoding="utf-8")
        git.Repo.init(project, initial_branch="main")
        commit_all(project, "initial")
        return project

    return make


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "churn"


def release_config(namespace: str) -> str:
    return (
        "project:\n  name: churn\n"
        f"image:\n  name: {namespace}/churn\n  network: host\n"
        "registry:\n  url: 127.0.0.1:5000\n"
        "smoke:\n  network: host\n  start_period: 120\n"
    )


@pytest.fixture
def released_project(git_project: Callable[..., Path], tmp_path: Path) -> tuple[Path, str, Path]:
    """The example in a git repo with a bare `origin`, pushing to a registry path of its own."""
    import git

    namespace = f"test-release-{uuid.uuid4().hex[:8]}"
    project = git_project(EXAMPLE, release_config(namespace))
    remote = tmp_path / "origin.git"
    git.Repo.init(remote, bare=True)
    repo = git.Repo(project)
    repo.create_remote("origin", str(remote))
    repo.git.push("origin", "main")
    return project, namespace, remote


# The containerd that dockerd runs for its image store, and the namespace it keeps images in.
ENGINE_CONTAINERD = Path("/var/run/docker/containerd/containerd.sock")


def _containerd(*args: str) -> list[str]:
    """`ctr ... -n moby ARGS` output lines; nothing where the engine has no containerd store."""
    import subprocess

    if shutil.which("ctr") is None or not ENGINE_CONTAINERD.exists():
        return []
    command = ["ctr", "--address", str(ENGINE_CONTAINERD), "-n", "moby", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.stdout.split()


def wipe_local_images(client: docker.DockerClient) -> None:
    """What a fresh CI runner has: no local image, no build cache and, on the containerd image
    store, no content (blobs that leases still hold would spare a "fresh" runner its pulls).
    Checked, not assumed.

    Records a running build holds cannot go: another build on the same engine (a second test
    run) would make this runner not fresh, so that fails here, naming what was left.
    """
    import time

    import docker

    for _ in range(10):
        # Children before parents: repeat while a pass still removes something. An image that a
        # running container uses cannot go, and does not hold the cache of the project under test.
        while True:
            removed = 0
            for image in client.images.list(all=True):
                with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                    client.images.remove(image.id, force=True)
                    removed += 1
            if not removed:
                break
        client.api.prune_builds(all=True)
        leases = _containerd("leases", "ls", "-q")
        if leases:
            _containerd("leases", "rm", "--sync", *leases)
        usage = client.df()
        left = [image["Id"] for image in usage.get("Images") or []]
        cache = [record["ID"] for record in usage.get("BuildCache") or []]
        content = _containerd("content", "ls", "-q")
        if not left and not cache and not content:
            return
        time.sleep(1)  # the image store's garbage collection runs after the removal
    raise AssertionError(
        f"the wipe left images {left}, build cache {cache} and content {content}: is another "
        "build running on this engine?"
    )
