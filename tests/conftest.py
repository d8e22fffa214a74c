"""Stack-wide fixtures: the real local container stack that `devstack` runs.

Test files keep their own fixtures; only what every stack test shares lives here.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.project import EXAMPLE, GIT_IDENTITY, commit_all

if TYPE_CHECKING:
    import docker

    from devstack import StackInfo


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stack: needs the local container stack (python -m devstack up)"
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """The stack, brought up once per session; its environment is set for the session.

    A stack that cannot come up fails the tests that need it: a skip would hide it in CI.
    """
    from devstack import ensure_up

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


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits made by tests and by the code under test need an author on a bare CI machine."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def git_project(tmp_path: Path) -> Callable[..., Path]:
    """A model project copied into its own fresh git repository, with a pipeline.yaml."""
    import git

    def make(source: Path, config_yaml: str = "", name: str = "project") -> Path:
        project = tmp_path / name
        shutil.copytree(
            source, project, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
        if config_yaml:
            (project / "pipeline.yaml").write_text(config_yaml, encoding="utf-8")
        git.Repo.init(project, initial_branch="main")
        commit_all(project, "initial")
        return project

    return make


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
