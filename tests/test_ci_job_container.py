"""Smoke from inside a CI job container that drives the engine through its socket: the
candidate joins the job container's network namespace (no port published on the engine's host,
which the job cannot reach), and `smoke.volumes` paths are translated to the engine's host.
The run inside real job containers is in tests/test_ci_gitlab.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.smoke import container

JOB = "b486952ad379599e99bf783c5009143b23bdeb3c1ad303792ed627644cc42c83"
# /proc/self/mountinfo of a gitlab-ci-local job container (captured here, shortened).
MOUNTINFO = (
    "2038 1921 0:215 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/...\n"
    f"2063 2038 8:1 /var/lib/docker/containers/{JOB}/resolv.conf /etc/resolv.conf rw - ext4\n"
    f"2064 2038 8:1 /var/lib/docker/containers/{JOB}/hostname /etc/hostname rw - ext4\n"
    "2066 2038 8:1 /var/lib/docker/volumes/gcl-build/_data /builds/g/p rw - ext4\n"
)
JOB_MOUNTS = [
    {"Source": "/var/lib/docker/volumes/gcl-build/_data", "Destination": "/builds/g/p"},
    {"Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock"},
]


def test_the_job_container_is_found_by_the_files_the_engine_mounts() -> None:
    assert container.own_container_id(MOUNTINFO) == JOB
    host = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n25 1 0:22 / /proc rw - proc proc rw\n"
    assert container.own_container_id(host) is None


def test_volumes_are_mounted_from_where_the_engine_has_them(tmp_path: Path) -> None:
    # The checkout at /builds/g/p in the job is a volume on the engine's host.
    source = Path("/builds/g/p/models")
    assert container._engine_path("models", source, JOB_MOUNTS) == Path(
        "/var/lib/docker/volumes/gcl-build/_data/models"
    )
    with pytest.raises(UserError, match="job container's own filesystem"):
        container._engine_path("weights", Path("/opt/weights"), JOB_MOUNTS)


def test_outside_a_container_auto_publishes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "own_container_id", lambda _: None)
    assert container._job_container("auto") is None
    assert container._job_container("publish") is None
    with pytest.raises(UserError, match="does not run in a container"):
        container._job_container("container")


def test_a_job_container_the_engine_does_not_run_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docker:dind: the job's own container belongs to the runner's engine, not to the service.
    import docker

    class Api:
        def inspect_container(self, _: str) -> None:
            raise docker.errors.NotFound("no such container")

    class Client:
        api = Api()

    monkeypatch.setattr(container, "own_container_id", lambda _: JOB)
    monkeypatch.setattr(container, "docker_client", Client)
    monkeypatch.setenv("DOCKER_HOST", "tcp://docker:2375")
    assert container._job_container("auto") is None
    with pytest.raises(UserError, match=r"b486952ad379, which the engine at tcp://docker:2375"):
        container._job_container("container")
