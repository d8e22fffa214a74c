"""Suite-wide fixtures and the test tiers' rules.

The stack (the real local container stack that `devstack` runs) and the package index are
fixtures; a test that needs one, directly or through another fixture, carries its tier's marker
(declared in pyproject.toml), or fails saying so. So the fast tier, `-m "not stack and not heavy
and not network"`, leaves out everything that needs an engine, root or the network. Nothing is
skipped: a test that cannot run fails with the reason. Test files keep their own fixtures.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.project import EXAMPLE, GIT_IDENTITY, commit_all

if TYPE_CHECKING:
    import docker

    from devstack import StackInfo


# The fixture a tier's tests request, and the tier's marker. The sentiment example's release is
# the one test module that takes minutes; its fixture is named here rather than in its file so
# that the rule is in one place.
TIER_FIXTURES = {"stack": "stack", "package_index": "network", "sentiment_release": "heavy"}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fails a test that needs a tier without its marker, before the fixture is set up: unmarked,
    it would run in the fast tier and reach for what is not there."""
    fixtures = getattr(item, "fixturenames", ())
    missing = sorted(
        {marker for name, marker in TIER_FIXTURES.items() if name in fixtures}
        - {mark.name for mark in item.iter_markers()}
    )
    if missing:
        marks = " ".join(f"@pytest.mark.{marker}" for marker in missing)
        needs = ", ".join(name for name in TIER_FIXTURES if name in fixtures)
        pytest.fail(
            f"{item.nodeid} needs {needs} (maybe through another fixture): add {marks}",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A skip is a failure: in CI it would pass without checking anything. Deselect a tier with
    `-m` instead."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, which the suite does not allow: {reason}"
    return report


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
def package_index(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pip reaches its package index (the test downloads real wheels), or the test fails with
    pip's reason; `-m "not network"` leaves these tests out where there is no network."""
    target = tmp_path_factory.mktemp("index-probe")
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--retries",
         "2", "download", "--no-deps", "-d", str(target), "six==1.17.0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        # pip's last retry names the reason (no route, no name resolution, a proxy's refusal).
        said = "\n".join(probe.stderr.strip().splitlines()[-3:])
        pytest.fail(f"pip cannot reach its package index:\n{said}", pytrace=False)


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
def local_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare image name goes to the stack's registry, as where `devstack status --env` is
    exported; no test pushes anywhere else by accident."""
    monkeypatch.setenv("PIPELINE_LOCAL_REGISTRY", "127.0.0.1:5000")


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits made by tests and by the code under test need an author on a bare CI machine."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def not_a_merge_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in a merge request's pipeline too, where a release refuses to publish."""
    from pipeline.release.preflight import REVIEW_EVENTS

    for name in REVIEW_EVENTS:
        monkeypatch.delenv(name, raising=False)


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
