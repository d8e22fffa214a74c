"""Two images compared as a container sees them: every path (type, mode, owner, link target,
content digest) and the run-time config. Shared by the patch tests and bench/rebuild.py."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile

RUNTIME_KEYS = (
    "Env", "Cmd", "Entrypoint", "User", "WorkingDir", "ExposedPorts", "Healthcheck", "Volumes",
    "StopSignal", "Shell", "OnBuild",
)  # fmt: skip


def container_view(ref: str) -> dict[str, tuple]:
    """Every path of a container of `ref`: type, mode, owner, link target, content digest."""
    created = subprocess.run(
        ["docker", "create", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", created], stdout=subprocess.PIPE)
        assert export.stdout is not None
        view: dict[str, tuple] = {}
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            for info in tar:
                content = ""
                if info.isfile():
                    handle = tar.extractfile(info)
                    assert handle is not None
                    content = hashlib.sha256(handle.read()).hexdigest()
                name = info.name.rstrip("/")
                view[name] = (info.type, info.mode, info.uid, info.gid, info.linkname, content)
        export.wait()
    finally:
        subprocess.run(["docker", "rm", "-f", created], capture_output=True, check=False)
    return view


def runtime_config(ref: str) -> dict:
    inspected = json.loads(
        subprocess.run(
            ["docker", "image", "inspect", ref], capture_output=True, text=True, check=True
        ).stdout
    )[0]["Config"]
    labels = dict(inspected.get("Labels") or {})
    labels.pop("org.opencontainers.image.created", None)
    return {**{key: inspected.get(key) for key in RUNTIME_KEYS}, "Labels": labels}


def differences(ref: str, other: str) -> tuple[dict[str, tuple], list[tuple]]:
    """What a container of `ref` sees, and where `other` differs: (path, ref's entry, other's),
    sorted by path, then ("config", ref's, other's) if the run-time configs differ."""
    view, other_view = container_view(ref), container_view(other)
    differing: list[tuple] = [
        (name, view.get(name), other_view.get(name))
        for name in sorted(view.keys() | other_view.keys())
        if view.get(name) != other_view.get(name)
    ]
    config, other_config = runtime_config(ref), runtime_config(other)
    if config != other_config:
        differing.append(("config", config, other_config))
    return view, differing
