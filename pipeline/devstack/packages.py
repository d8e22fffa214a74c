"""Debian packages the stack runs on, installed with apt-get only when one is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pipeline.errors import UserError

from .procs import log_tail, progress
from .state import StateDir

# command on PATH -> the Debian package that provides it
TOOLS: dict[str, str] = {
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "debootstrap": "debootstrap",
    "htpasswd": "apache2-utils",
    "rsync": "rsync",
    "openssl": "openssl",
}
ENGINE_TOOLS: dict[str, str] = {"dockerd": "docker.io"}


def is_debian() -> bool:
    return Path("/etc/debian_version").exists()


def can_install() -> bool:
    return is_debian() and os.geteuid() == 0 and shutil.which("apt-get") is not None


def missing(need_engine: bool) -> list[str]:
    wanted = dict(TOOLS)
    if need_engine:
        # Only when no engine answers: docker.io next to docker-ce would conflict.
        wanted.update(ENGINE_TOOLS)
    return sorted({package for tool, package in wanted.items() if shutil.which(tool) is None})


def ensure(state: StateDir, need_engine: bool) -> list[str]:
    """Install what is missing when we can; return what is still missing afterwards."""
    needed = missing(need_engine)
    if not needed or not can_install():
        return needed
    progress(f"packages: installing {' '.join(needed)} (apt-get)")
    log = state.log("apt")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(log, "ab") as out:
        # Wait for a concurrent apt (another session installing something) instead of failing.
        wait = ["-o", "DPkg::Lock::Timeout=300"]
        for argv in (["apt-get", *wait, "update"], ["apt-get", *wait, "install", "-y", *needed]):
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
            if done.returncode != 0:
                raise UserError(
                    f"`{' '.join(argv)}` failed (exit {done.returncode}); "
                    f"log {log}: {log_tail(log, 3)}"
                )
    if "docker-registry" in needed and Path("/run/systemd/system").is_dir():
        # Under systemd the package starts its own registry on :5000, which is our port.
        # (Not exercised here: this machine has no systemd.)
        subprocess.run(
            ["systemctl", "disable", "--now", "docker-registry"], capture_output=True, check=False
        )
    return missing(need_engine)
