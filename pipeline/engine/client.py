"""The Docker engine, through the docker SDK (DOCKER_HOST, DOCKER_TLS_VERIFY, ... honoured)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import UserError

if TYPE_CHECKING:
    import docker


@functools.cache
def docker_client() -> docker.DockerClient:
    import docker

    # Empty is unset, for the SDK and the docker CLI alike (a CI variable mapped from no input).
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise UserError(
            f"cannot reach the Docker engine at {host}: {_reason(exc)}; start one "
            "(Docker 24 or later with buildx: Docker Engine on Linux, Docker Desktop on a laptop) "
            "or point DOCKER_HOST at it"
        ) from exc
    return client


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "No such file or directory", "Permission denied"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0] if text else type(exc).__name__


CONTAINERD_STORE = "io.containerd.snapshotter.v1"


def store_of(info: Mapping[str, Any]) -> str:
    """The image store `docker info` (`info`) tells: the containerd driver-type, else the graph
    driver's name.

    It decides what an image ID is: the config digest on a graph driver (overlay2), the
    manifest (or index) digest on the containerd image store.
    """
    status = dict(tuple(pair) for pair in info.get("DriverStatus") or [] if len(pair) == 2)
    return str(status.get("driver-type") or info.get("Driver") or "unknown")


def image_store() -> str:
    """The image store of the engine the pipeline drives."""
    return store_of(docker_client().info())
