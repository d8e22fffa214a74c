"""The Docker engine, through the docker SDK: the one the docker CLI and buildx use (DOCKER_HOST,
else the current docker context), DOCKER_TLS_VERIFY and DOCKER_CERT_PATH honoured."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import UserError
from pipeline.distribution.auth import docker_config_dir

if TYPE_CHECKING:
    import docker


DEFAULT_HOST = "unix:///var/run/docker.sock"


def engine_endpoint(environ: Mapping[str, str]) -> str:
    """The engine the docker CLI, and so buildx, talks to: DOCKER_HOST, else the current docker
    context's (DOCKER_CONTEXT, else config.json's currentContext), else the local socket. The
    SDK on its own reads DOCKER_HOST only: on Colima or Rancher Desktop, whose context points at
    their VM's socket, build and smoke would reach two engines."""
    # Empty is unset, for the SDK and the docker CLI alike (a CI variable mapped from no input).
    if host := environ.get("DOCKER_HOST"):
        return host
    directory = docker_config_dir(environ)
    name = environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            name = json.loads((directory / "config.json").read_text()).get("currentContext")
        except (OSError, ValueError, AttributeError):
            name = None
    if not name or name == "default":
        return DEFAULT_HOST
    # The CLI stores a context's metadata under the sha256 of its name.
    meta = directory / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    try:
        endpoint = json.loads((meta / "meta.json").read_text())["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"docker context {name!r} (the current one) has no docker endpoint in {meta}; "
            "`docker context ls` lists them, `docker context use default` leaves it"
        ) from exc
    return str(endpoint)


@functools.cache
def docker_client() -> docker.DockerClient:
    import docker

    host = engine_endpoint(os.environ)
    try:
        # DOCKER_TLS_VERIFY and DOCKER_CERT_PATH still apply, as the CLI applies them.
        client = docker.from_env(timeout=600, environment={**os.environ, "DOCKER_HOST": host})
        client.ping()
    except docker.errors.DockerException as exc:
        raise UserError(
            f"cannot reach the Docker engine at {host}: {_reason(exc)}; start one "
            "(Docker 24 or later with buildx: Docker Engine on Linux, Docker Desktop on a laptop) "
            "or point DOCKER_HOST at it"
        ) from exc
    return client


def engine_answers(timeout: int = 10) -> bool:
    """Whether the engine answers now, on a connection of its own (the shared client's may be
    the one that broke)."""
    import docker

    host = engine_endpoint(os.environ)
    try:
        client = docker.from_env(timeout=timeout, environment={**os.environ, "DOCKER_HOST": host})
        try:
            return bool(client.ping())
        finally:
            client.close()
    except docker.errors.DockerException:
        return False


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


# The first Docker release that pulls zstd layers (containerd 1.5 does too).
ZSTD_DOCKER = 23


def pulls_zstd(info: Mapping[str, Any]) -> bool:
    """Whether the engine `docker info` (`info`) describes pulls zstd layers; an engine whose
    version reads as no number (a development build) is taken to."""
    major = str(info.get("ServerVersion") or "").split(".")[0]
    return not major.isdigit() or int(major) >= ZSTD_DOCKER


def image_store() -> str:
    """The image store of the engine the pipeline drives."""
    return store_of(docker_client().info())
