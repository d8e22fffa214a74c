"""Stack-wide fixtures: the real local container stack that `pipeline.devstack` runs.

Test files keep their own fixtures; only what every stack test shares lives here.
"""

from __future__ import annotations

from collections.abc import Iterator
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
