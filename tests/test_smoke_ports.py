"""Smoke finds the app's port: the configuration, else the image, else PORT; and when /health
is refused it says at once where the app listens (issue 14, item 5)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_smoke import DATA, _build_and_push, _remove_images, smoke, write_project

from pipeline.smoke.checks import CheckError
from pipeline.smoke.http import wait_healthy
from pipeline.smoke.ports import app_port, listening_ports, mismatch

if TYPE_CHECKING:
    import docker

# /proc/net/tcp as a container on the host's network sees it: the host's sockets (the registry
# on 5000) and the app's (8000, inode 4242), then `ls -l /proc/*/fd` of the container.
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout
   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1
   1: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1
   2: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1
"""
FDS = """/proc/1/fd:
lrwx------ 1 app app 64 Dec  1 09:00 0 -> /dev/null
lrwx------ 1 app app 64 Dec  1 09:00 3 -> socket:[4242]
"""


def fake_exec(output: str, code: int = 0) -> Callable[[Sequence[str]], tuple[int, str]]:
    def run(argv: Sequence[str]) -> tuple[int, str]:
        return code, output

    return run


@pytest.mark.parametrize(
    ("configured", "image", "network", "port", "source"),
    [
        (9000, {"ExposedPorts": {"8000/tcp": {}}}, "host", 9000, "smoke.port"),
        (None, {"ExposedPorts": {"8000/tcp": {}}}, "host", 8000, "EXPOSE 8000 in the image"),
        (None, {"ExposedPorts": {"8000/tcp": {}}}, "publish", 8000, "EXPOSE 8000 in the image"),
        (None, {"Env": ["PORT=8080"], "ExposedPorts": {"8080/tcp": {}}}, "host", None, "PORT"),
        (None, {"Env": ["PORT=8080"], "ExposedPorts": {"8080/tcp": {}}}, "publish", 8080, "EXPOSE"),
        (None, {"ExposedPorts": {"53/udp": {}}}, "host", None, "PORT"),
        (None, {}, "publish", None, "PORT"),
    ],
)
def test_where_the_port_comes_from(configured, image, network, port, source) -> None:
    found = app_port(configured, image, network)
    assert found.port == port and found.source.startswith(source)


def test_listening_ports_are_the_containers_own_on_the_host_network() -> None:
    assert listening_ports(fake_exec(f"{TCP}--\n{FDS}"), "host") == {8000}
    # Without the owners the host's table says nothing of the app.
    assert listening_ports(fake_exec(f"{TCP}--\n"), "host") is None
    # In its own network namespace every listener is the container's.
    assert listening_ports(fake_exec(f"{TCP}--\n"), "publish") == {5000, 8000}
    assert listening_ports(fake_exec("sh: not found", 127), "publish") is None


def test_the_mismatch_names_the_port_and_the_key() -> None:
    message = mismatch("/health", 8080, "PORT", {8000}, healthy=False)
    assert message is not None
    assert "port 8080 (PORT) is refused, but the app listens on port 8000" in message
    assert "set smoke.port: 8000" in message
    assert mismatch("/health", 8080, "PORT", set(), healthy=False) is None  # still starting
    assert mismatch("/health", 8080, "PORT", {8080}, healthy=False) is None
    healthy = mismatch("/health", 8080, "PORT", None, healthy=True)
    assert "HEALTHCHECK reports healthy" in (healthy or "")


def test_a_refused_health_check_stops_waiting_once_the_app_is_found_elsewhere() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: connections to it are refused
    started = time.monotonic()
    with pytest.raises(CheckError, match="listens on port 8000"):
        wait_healthy(
            f"http://127.0.0.1:{port}",
            "/health",
            within=300,
            exit_code=lambda: None,
            sleep=lambda _: None,
            refused=lambda: "/health ... the app listens on port 8000",
        )
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def fixed_port_image(docker_client: docker.DockerClient) -> Iterator[str]:
    ref = f"127.0.0.1:5000/test-smoke-ports-{uuid.uuid4().hex[:8]}/fixed-port:1"
    _build_and_push(docker_client, DATA, ref, "fixed-port/Dockerfile")
    yield ref
    _remove_images(docker_client, [ref])


@pytest.mark.stack
def test_an_app_on_its_exposed_port_passes_and_a_wrong_port_fails_at_once(
    fixed_port_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Stumble 5: the step waited the full start period with "connection refused".
    project = write_project(tmp_path / "p", requests=2, grace_period=10)
    code, report, err = smoke(capsys, project, fixed_port_image)
    assert code == 0, err
    start = next(c for c in report["checks"] if c["name"] == "start")
    assert "port 18537 from EXPOSE 18537 in the image" in start["message"]

    project = write_project(tmp_path / "q", requests=2, port=18538, start_period=300)
    started = time.monotonic()
    code, report, err = smoke(capsys, project, fixed_port_image)
    assert code == 2
    assert time.monotonic() - started < 60
    health = next(c for c in report["checks"] if c["name"] == "health")
    assert "the app listens on port 18537: set smoke.port: 18537" in health["message"]
