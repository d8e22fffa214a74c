"""The container under test: pull, start (with or without GPUs), exec, logs, stop, remove."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config.schema import SmokeSection
from pipeline.core.errors import UserError
from pipeline.engine.client import docker_client
from pipeline.smoke.checks import CheckError
from pipeline.smoke.ports import DEFAULT_PORT, AppPort

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.images import Image

LABEL = "io.ml-release-pipeline.smoke"
NAME_PREFIX = "pipeline-smoke-"
LOOPBACK = "127.0.0.1"
# What the engine answers when a GPU is requested and no NVIDIA runtime is installed.
NO_GPU_RUNTIME = "could not select device driver"
TOOLKIT_URL = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/"
# The engine bind-mounts these files of a container from its own directory, by container id.
_OWN_CONTAINER = re.compile(r"/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\.conf)\s")


class GpuRuntimeMissing(Exception):
    """The engine cannot give the container a GPU; the message is the engine's own."""


def local_image(ref: str) -> Image:
    import docker

    try:
        return docker_client().images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise UserError(f"image {ref} is not in the local image store; drop --no-pull") from exc


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    network: str  # publish | host | container:<id> (the network namespace of that container)
    port: int | None  # smoke.port: where the app listens inside the container, if configured
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def container_spec(smoke: SmokeSection, project_dir: Path, image: str) -> ContainerSpec:
    job = _job_container(smoke.network)
    return ContainerSpec(
        image=image,
        network=f"container:{job['Id']}" if job else _without_job(smoke.network),
        port=smoke.port,
        env=dict(smoke.env),
        volumes=_volumes(smoke.volumes, project_dir, job.get("Mounts", []) if job else []),
    )


def _without_job(network: str) -> str:
    return "publish" if network == "auto" else network


def own_container_id(mountinfo: str) -> str | None:
    """The id of the container whose /proc/self/mountinfo this is; None outside one."""
    match = _OWN_CONTAINER.search(mountinfo)
    return match.group(1) if match else None


def _job_container(network: str) -> Mapping[str, Any] | None:
    """The engine's view of the container this process runs in (a CI job driving the engine
    through its socket), when the candidate is to join its network: only there does the job
    reach the candidate on loopback; a port published on the engine's host is out of its
    reach."""
    import docker

    if network in ("publish", "host"):
        return None
    try:
        job = own_container_id(Path("/proc/self/mountinfo").read_text(encoding="utf-8"))
    except OSError:
        job = None
    if job is None:
        if network == "container":
            raise UserError("smoke.network container: the pipeline does not run in a container")
        return None
    try:
        attrs: Mapping[str, Any] = docker_client().api.inspect_container(job)
    except docker.errors.NotFound:
        if network == "auto":
            return None  # a container of another engine: its ports are published as usual
        engine = os.environ.get("DOCKER_HOST") or "the local socket"
        raise UserError(
            f"smoke.network container: the pipeline runs in container {job[:12]}, which the "
            f"engine at {engine} does not run (a docker:dind service runs its own containers): "
            "the candidate cannot join its network; drive the engine that runs the job "
            "(its socket mounted into the job) or use smoke.network publish"
        ) from None
    return attrs


def _volumes(
    volumes: Mapping[str, str], project_dir: Path, job_mounts: Sequence[Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """`{host: "/models"}` or `{host: "/models:rw"}`; read-only unless asked, so a smoke test
    cannot change the weights on the runner. From a job container, each path is where the
    engine's host has it."""
    mounts = {}
    for host, target in volumes.items():
        source = (project_dir / host).resolve()
        if not source.exists():
            raise UserError(f"smoke.volumes: {host}: no such file or directory ({source})")
        if job_mounts:
            source = _engine_path(host, source, job_mounts)
        bind, _, mode = target.partition(":")
        if mode not in ("", "ro", "rw"):
            raise UserError(f"smoke.volumes: {host}: {target!r}: the mode must be ro or rw")
        mounts[str(source)] = {"bind": bind, "mode": mode or "ro"}
    return mounts


def _engine_path(host: str, source: Path, job_mounts: Sequence[Mapping[str, str]]) -> Path:
    """`source` in the job container as the engine's host has it: below one of the job's
    mounts, else the engine cannot mount it."""
    for mount in sorted(job_mounts, key=lambda m: len(m["Destination"]), reverse=True):
        if source.is_relative_to(mount["Destination"]) and mount.get("Source"):
            return Path(mount["Source"]) / source.relative_to(mount["Destination"])
    raise UserError(
        f"smoke.volumes: {host}: {source} is in the job container's own filesystem, which the "
        "engine cannot mount into the candidate; keep it in the checkout (a volume of the job)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class SmokeContainer:
    def __init__(self, container: Container, url: str, port: int) -> None:
        self._container = container
        self.url = url
        self.port = port  # where the app is expected to listen inside the container

    @property
    def name(self) -> str:
        return str(self._container.name)

    def exit_code(self) -> int | None:
        """The exit code once the container has stopped; None while it runs."""
        self._container.reload()
        state = self._container.attrs["State"]
        return None if state.get("Running") else int(state.get("ExitCode", -1))

    def healthy(self) -> bool:
        """Whether the image's own HEALTHCHECK reports healthy (after an exit_code() call)."""
        health = self._container.attrs["State"].get("Health") or {}
        return health.get("Status") == "healthy"

    def exec(self, argv: Sequence[str]) -> tuple[int, str]:
        result = self._container.exec_run(list(argv))
        return int(result.exit_code), result.output.decode("utf-8", "replace")

    def logs_tail(self, lines: int) -> list[str]:
        text = self._container.logs(tail=lines).decode("utf-8", "replace")
        return text.splitlines()

    def terminate(self) -> None:
        self._container.kill(signal="SIGTERM")

    def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None when the container still runs after `timeout` seconds."""
        import requests

        try:
            return int(self._container.wait(timeout=timeout)["StatusCode"])
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None

    def remove(self) -> None:
        import docker

        with contextlib.suppress(docker.errors.NotFound):
            self._container.remove(force=True)


def start_container(spec: ContainerSpec, port: AppPort, *, gpu: bool) -> SmokeContainer:
    """Create and start the container, its app on `port`; it is removed again if it cannot
    start."""
    import docker

    client = docker_client()
    env = dict(spec.env)
    kwargs: dict[str, object] = {
        "name": NAME_PREFIX + secrets.token_hex(4),
        "labels": {LABEL: "1"},
        "environment": env,
        "volumes": {source: dict(mount) for source, mount in spec.volumes.items()},
        "detach": True,
    }
    host_port = None
    if spec.network != "publish":
        # A shared network (the host's, or the job container's) maps no ports: the app is told
        # where to listen (a free port picked just before the start, to keep the race for it
        # short, unless the port is known), on loopback unless the project says otherwise, so
        # the model is not served to the whole network.
        host_port = port.port or free_port()
        container_port = host_port
        env["PORT"] = str(host_port)
        env.setdefault("HOST", LOOPBACK)
        kwargs["network_mode"] = spec.network
    else:
        container_port = port.port or DEFAULT_PORT
        if port.from_env:
            env["PORT"] = str(container_port)
        # A one-element tuple: the loopback interface, a port the engine picks.
        kwargs["ports"] = {f"{container_port}/tcp": (LOOPBACK,)}
    if gpu:
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    try:
        container = client.containers.create(spec.image, **kwargs)
    except docker.errors.APIError as exc:
        raise CheckError(f"the engine cannot create the container: {exc.explanation}") from exc
    try:
        container.start()
        url = (
            f"http://{LOOPBACK}:{host_port}"
            if host_port
            else _published_url(container, container_port)
        )
    except BaseException as exc:
        # Whatever stops the start (the engine, no published port, Ctrl-C), nobody else holds
        # this container yet: it goes now.
        container.remove(force=True)
        if not isinstance(exc, docker.errors.APIError):
            raise
        explanation = str(exc.explanation or exc)
        if gpu and NO_GPU_RUNTIME in explanation:
            raise GpuRuntimeMissing(explanation) from exc
        raise CheckError(f"the engine cannot start the container: {explanation}") from exc
    return SmokeContainer(container, url, container_port)


def _published_url(container: Container, port: int) -> str:
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
    if not bindings:
        raise CheckError(
            f"the engine published no host port for container port {port}; an engine "
            'without a bridge network (daemon.json "bridge": "none") cannot publish ports: '
            "use --network host"
        )
    return f"http://{LOOPBACK}:{bindings[0]['HostPort']}"
