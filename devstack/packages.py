"""Debian packages the stack runs on, installed with apt-get only when one is missing.

The engine is the exception: bookworm's docker.io is 20.10 (end of life, BuildKit v0.8, no
buildx), while CI users run Docker 24 and later with buildx. The current engine comes from
Debian trixie, as exact .deb files: apt resolves their other needs from the system's own
release, so nothing else is upgraded (trixie's runc would drag in a newer libc; bookworm's
runc serves). cosign, which bookworm lacks, comes from trixie the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from pipeline.core.errors import UserError

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
    "git-lfs": "git-lfs",  # the LFS pointer check's tests check out real pointers and objects
}
# Tools bookworm lacks, from the engine's release: cosign signs and verifies releases (a static
# Go binary: it needs no newer libc).
RELEASE_TOOLS: dict[str, str] = {"cosign": "cosign"}
# The engine, its CLI, the containerd it runs on and the buildx plugin, from one release.
ENGINE_PACKAGES = ("docker.io", "docker-cli", "containerd", "docker-buildx")
ENGINE_RELEASE = "trixie"
ENGINE_SOURCE = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    f"http://deb.debian.org/debian {ENGINE_RELEASE} main\n"
)
MIN_ENGINE_MAJOR = 24  # the first engine whose containerd image store buildx can export from


def is_debian() -> bool:
    return Path("/etc/debian_version").exists()


def can_install() -> bool:
    return is_debian() and os.geteuid() == 0 and shutil.which("apt-get") is not None


def missing(tools: dict[str, str] = TOOLS) -> list[str]:
    return sorted({package for tool, package in tools.items() if shutil.which(tool) is None})


def major(text: str) -> int | None:
    match = re.search(r"(\d+)\.\d+", text)
    return int(match.group(1)) if match else None


def installed_enginemajor() -> int | None:
    """The major version of the dockerd on PATH, or None when there is none."""
    if shutil.which("dockerd") is None:
        return None
    done = subprocess.run(["dockerd", "--version"], capture_output=True, text=True, check=False)
    return major(done.stdout)


def buildx_installed() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    done = subprocess.run([docker, "buildx", "version"], capture_output=True, check=False)
    return done.returncode == 0


def engine_current() -> bool:
    major = installed_enginemajor()
    return major is not None and major >= MIN_ENGINE_MAJOR and buildx_installed()


def _run(argv: list[str], log: Path, cwd: Path | None = None) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(log, "ab") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, check=False
        )
    if done.returncode != 0:
        raise UserError(
            f"`{' '.join(argv)}` failed (exit {done.returncode}); log {log}: {log_tail(log, 3)}"
        )


# Wait for a concurrent apt (another session installing something) instead of failing.
_APT_WAIT = ["-o", "DPkg::Lock::Timeout=300"]


def _release_debs(state: StateDir, log: Path, names: list[str]) -> list[Path]:
    """Those packages' .deb files from trixie, fetched with a private apt configuration."""
    root = state.root / f"apt-{ENGINE_RELEASE}"
    debs = root / "debs"
    for folder in (root / "lists" / "partial", root / "cache" / "archives" / "partial", debs):
        folder.mkdir(parents=True, exist_ok=True)
    sources = root / "sources.list"
    sources.write_text(ENGINE_SOURCE, encoding="utf-8")
    private = [
        "-o", f"Dir::Etc::sourcelist={sources}",
        "-o", "Dir::Etc::sourceparts=-",
        "-o", f"Dir::State::Lists={root / 'lists'}",
        "-o", f"Dir::Cache={root / 'cache'}",
    ]  # fmt: skip
    for old in debs.glob("*.deb"):
        old.unlink()
    _run(["apt-get", *private, "update"], log)
    _run(["apt-get", *private, "download", *names], log, cwd=debs)
    return sorted(debs.glob("*.deb"))


def ensure(state: StateDir, need_engine: bool) -> list[str]:
    """Install what is missing when we can; return what is still missing afterwards.

    `need_engine`: install the current engine (and buildx) unless the one on PATH already is.
    """
    needed = missing()
    engine = need_engine and not engine_current()
    from_release = [*(ENGINE_PACKAGES if engine else ()), *missing(RELEASE_TOOLS)]
    if not (needed or from_release) or not can_install():
        return [*needed, *missing(RELEASE_TOOLS)]
    log = state.log("apt")
    debs = _release_debs(state, log, from_release) if from_release else []
    names = [*needed, *(f"{ENGINE_RELEASE}:{p}" for p in from_release)]
    progress(f"packages: installing {' '.join(names)} (apt-get)")
    _run(["apt-get", *_APT_WAIT, "update"], log)
    _run(["apt-get", *_APT_WAIT, "install", "-y", *needed, *map(str, debs)], log)
    if "docker-registry" in needed and Path("/run/systemd/system").is_dir():
        # Under systemd the package starts its own registry on :5000, which is our port.
        # (Not exercised here: this machine has no systemd.)
        subprocess.run(
            ["systemctl", "disable", "--now", "docker-registry"], capture_output=True, check=False
        )
    return [*missing(), *missing(RELEASE_TOOLS)]
