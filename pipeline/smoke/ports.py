"""Where the app under test listens: the configuration, else the image, else `PORT`; and, when
/health is refused, which port it really listens on.

The image says it by `EXPOSE` (its config's ExposedPorts), or by `ENV PORT=...`, which tells
that its app reads PORT: on the host's network such an app gets a free port, since a fixed one
may be taken by anything else on the runner. An app that listens elsewhere is found by its
listening sockets inside the container (/proc/net/tcp{,6}, kept to the sockets the container's
processes hold, as on the host's network those files list the whole host's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_PORT = 8080
_LISTEN = "0A"
# The sockets table, then the container's processes' open files (`socket:[INODE]`).
SOCKETS_SCRIPT = (
    "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; echo --; ls -l /proc/[0-9]*/fd 2>/dev/null"
)
_SOCKET_INODE = re.compile(r"socket:\[(\d+)\]")

Exec = Callable[[Sequence[str]], tuple[int, str]]


@dataclass(frozen=True)
class AppPort:
    port: int | None  # None: the app is given a port in PORT
    source: str  # said in the report and in the mismatch message

    @property
    def from_env(self) -> bool:
        return self.port is None


def app_port(configured: int | None, image_config: Mapping[str, Any], network: str) -> AppPort:
    if configured is not None:
        return AppPort(configured, "smoke.port")
    env = dict(item.partition("=")[::2] for item in image_config.get("Env") or [])
    if network != "publish" and "PORT" in env:
        return AppPort(None, "PORT (the image sets ENV PORT, so its app reads it)")
    exposed = sorted(
        int(spec.split("/")[0])
        for spec in image_config.get("ExposedPorts") or {}
        if spec.split("/")[0].isdigit() and spec.endswith("/tcp")
    )
    if exposed:
        return AppPort(exposed[0], f"EXPOSE {exposed[0]} in the image")
    return AppPort(None, "PORT (no smoke.port, and the image exposes no port)")


def listening_ports(exec_: Exec, network: str) -> set[int] | None:
    """The TCP ports the container's processes listen on; None when the container cannot say
    (no shell in the image, /proc unreadable, or on the host's network no socket it owns)."""
    import docker

    try:
        _, output = exec_(["sh", "-c", SOCKETS_SCRIPT])
    except docker.errors.DockerException:
        return None  # a failed look is no finding: the health wait goes on
    table, ran, files = ("\n" + output).partition("\n--\n")
    if not ran:
        return None  # the script did not run: no shell in the image
    owned = set(_SOCKET_INODE.findall(files))
    if network != "publish" and not owned:
        return None  # the table is the host's: without owners it says nothing of the app
    ports = set()
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN or ":" not in fields[1]:
            continue
        if owned and fields[9] not in owned:
            continue
        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def mismatch(
    path: str, port: int, source: str, listening: set[int] | None, healthy: bool
) -> str | None:
    """Why `path` on `port` is refused when the app is up elsewhere; None while it may still
    be starting."""
    others = sorted(p for p in listening or () if p != port)
    if listening and port not in listening and others:
        where = ", ".join(map(str, others))
        return (
            f"{path} on port {port} ({source}) is refused, but the app listens on port "
            f"{where}: set smoke.port: {others[0]} in pipeline.yaml (or PIPELINE_SMOKE_PORT)"
        )
    if healthy:
        return (
            f"{path} on port {port} ({source}) is refused, yet the container's own "
            "HEALTHCHECK reports healthy: the app listens on another port; set smoke.port in "
            "pipeline.yaml to the port in its CMD"
        )
    return None
