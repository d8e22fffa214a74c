"""Put python:3.11-slim in the local registry, so `FROM python:3.11-slim` builds offline.

The image is built once (debootstrap) and pushed; later `up`s find it in the registry and
never import again: a re-import makes a new image ID and defeats every layer cache.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pipeline.core.errors import UserError

from .engine import EngineInfo
from .layout import (
    BASE_IMAGE,
    LOCAL_MIRROR,
    LOCAL_REGISTRY,
    SEEDED_IMAGE,
    SEEDED_REPOSITORY,
    SEEDED_TAG,
)
from .probe import http_status
from .procs import log_tail, progress
from .state import StateDir

SUITE = "bookworm"  # Debian's python3 is 3.11 in bookworm, which is what the tag promises
PACKAGES = "python3,python3-venv,python3-pip,python-is-python3,ca-certificates"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CHANGES = (
    'CMD ["python3"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
)
_MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


def registry_has_seed() -> bool:
    url = f"http://{LOCAL_REGISTRY.bind}/v2/{SEEDED_REPOSITORY}/manifests/{SEEDED_TAG}"
    return http_status(url, method="HEAD", headers={"Accept": _MANIFEST_TYPES}) == 200


def _docker(args: list[str], log: Path, timeout: float = 600) -> bool:
    with open(log, "ab") as out:
        out.write(f"\n$ docker {' '.join(args)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                ["docker", *args], stdout=out, stderr=subprocess.STDOUT, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def _has_local_image(ref: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False)
    return done.returncode == 0


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The host's Debian mirror, from deb822 `URIs:` stanzas or one-line `deb` entries."""
    files = sorted((sources / "sources.list.d").glob("*.sources"))
    files += sorted((sources / "sources.list.d").glob("*.list"))
    files.append(sources / "sources.list")
    candidates: list[tuple[str, list[str]]] = []  # (uri, suites)
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" in fields.get("types", "").split():
                    for uri in fields.get("uris", "").split():
                        candidates.append((uri, fields.get("suites", "").split()))
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    candidates.append((words[1], [words[2]]))
    # The main archive is the entry carrying a plain release suite (not -security/-updates).
    for uri, suites in candidates:
        release = any(re.fullmatch(r"[a-z]+", suite) for suite in suites)
        if release and "debian" in uri and "security" not in uri:
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _build(state: StateDir, log: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise UserError(
            f"{BASE_IMAGE} cannot be pulled and debootstrap is missing to build it; "
            "install debootstrap (apt-get install -y debootstrap) or make the image pullable"
        )
    work = state.root / "seed"
    rootfs = work / "rootfs"
    if work.exists():
        shutil.rmtree(work)  # a half-built rootfs from an interrupted `up`
    work.mkdir(parents=True)
    mirror = debian_mirror()
    progress(f"seed {BASE_IMAGE}: building with debootstrap from {mirror} (about a minute)")
    argv = [
        "debootstrap", "--variant=minbase", f"--include={PACKAGES}",
        SUITE, str(rootfs), mirror,
    ]  # fmt: skip
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise UserError(f"debootstrap failed (exit {done.returncode}); log {log}: {log_tail(log)}")
    # The host's bundle carries the CA of the proxy that lets pip in a build reach PyPI.
    shutil.copyfile(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
    # Without EXTERNALLY-MANAGED, pip behaves as in the official image.
    for managed in (rootfs / "usr/lib").glob("python3*/EXTERNALLY-MANAGED"):
        managed.unlink()
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
    with open(log, "ab") as out:
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", *changes, "-", SEEDED_IMAGE],
            stdin=tar.stdout,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        raise UserError(f"docker import of the rootfs failed; log {log}: {log_tail(log)}")
    shutil.rmtree(work)


def ensure(state: StateDir, engine: EngineInfo) -> None:
    log = state.log("seed")
    if registry_has_seed():
        # Cheap when the engine has the image; otherwise this is the mirror doing its job.
        if not _has_local_image(BASE_IMAGE) and not _docker(["pull", BASE_IMAGE], log):
            raise UserError(_mirror_advice(engine, log))
        progress(f"seed {BASE_IMAGE}: in {LOCAL_REGISTRY.host}")
        return
    if _has_local_image(SEEDED_IMAGE):
        how = "pushed the image the engine already had"  # the registry data was purged
    elif _docker(["pull", BASE_IMAGE], log, timeout=120):
        how = "pulled from Docker Hub"
        if not _docker(["tag", BASE_IMAGE, SEEDED_IMAGE], log):
            raise UserError(f"docker tag {BASE_IMAGE} {SEEDED_IMAGE} failed; log {log}")
    else:
        _build(state, log)
        how = "built with debootstrap"
    if not _docker(["push", SEEDED_IMAGE], log):
        raise UserError(f"docker push {SEEDED_IMAGE} failed; log {log}: {log_tail(log)}")
    if not _docker(["pull", BASE_IMAGE], log):
        raise UserError(_mirror_advice(engine, log))
    progress(f"seed {BASE_IMAGE}: {how}, pushed to {LOCAL_REGISTRY.host}")


def _mirror_advice(engine: EngineInfo, log: Path) -> str:
    if LOCAL_MIRROR not in engine.mirrors:
        return (
            f"`docker pull {BASE_IMAGE}` fails and the engine does not use {LOCAL_MIRROR} as a "
            f'mirror; add "registry-mirrors": ["{LOCAL_MIRROR}"] to its daemon.json, '
            "restart it and run `up` again"
        )
    return (
        f"`docker pull {BASE_IMAGE}` fails through the mirror {LOCAL_MIRROR}; "
        f"log {log}: {log_tail(log)}"
    )
