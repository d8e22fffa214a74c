"""The Docker engine: use the one that answers, or start dockerd ourselves (root on Debian).

The build step needs what CI users run: Docker 24 or later, buildx, and the containerd image
store (buildx's built-in `docker` driver can export a registry cache only from that store).
An engine devstack started that falls short (a 20.10 from an earlier `up`) is replaced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError
from pipeline.engine.client import CONTAINERD_STORE, store_of

from . import packages
from .layout import ENGINE_NAME, LOCAL_MIRROR
from .procs import Service, finish, launch, progress, record_alive, stop_service
from .state import StateDir, write_if_changed

DAEMON_JSON = Path("/etc/docker/daemon.json")
# bridge none / no iptables: this kind of machine has neither a usable bridge nor iptables.
_DAEMON_DEFAULTS: dict[str, Any] = {"bridge": "none", "iptables": False}
CONTAINERD_STORE_FEATURE = "containerd-snapshotter"

HOW_TO_START = (
    "start Docker (Docker Desktop, or `sudo systemctl start docker`) and run `up` again; "
    "devstack only installs and starts an engine itself as root on Debian"
)


@dataclass(frozen=True)
class EngineInfo:
    version: str
    image_store: str = ""
    mirrors: list[str] = field(default_factory=list)
    managed: bool = False  # started by devstack, so `down` stops it
    pid: int | None = None

    @property
    def address(self) -> str:
        return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def query() -> dict[str, Any] | None:
    """`docker info` as a dict, or None when no engine answers."""
    if shutil.which("docker") is None:
        return None
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    try:
        info = json.loads(done.stdout)
    except json.JSONDecodeError:
        return None
    # An unreachable daemon can still print client-side JSON with ServerErrors.
    if not isinstance(info, dict) or info.get("ServerErrors") or not info.get("ServerVersion"):
        return None
    return info


def _answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def image_store(raw: dict[str, Any]) -> str:
    """`containerd` or the graph driver's name (`overlay2`), as `docker info` tells: the
    pipeline's own detection, named for people."""
    store = store_of(raw)
    return "containerd" if store == CONTAINERD_STORE else store


def shortfall(raw: dict[str, Any]) -> str | None:
    """Why this engine cannot serve the build step, or None when it can."""
    version = str(raw.get("ServerVersion"))
    major = packages.major(version)
    if major is None or major < packages.MIN_ENGINE_MAJOR:
        return f"is docker {version}; the build needs {packages.MIN_ENGINE_MAJOR} or later"
    store = image_store(raw)
    if store != "containerd":
        return (
            f"uses the {store} image store; buildx's docker driver exports a registry cache only "
            f'from the containerd image store ("features": {{"{CONTAINERD_STORE_FEATURE}": true}} '
            f"in {DAEMON_JSON})"
        )
    if not packages.buildx_installed():
        return "has no buildx plugin for the docker CLI (Debian: docker-buildx)"
    return None


def _cli_output(*args: str) -> str:
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def describe(raw: dict[str, Any]) -> str:
    """Engine, image store, buildx and BuildKit versions, for `status` and progress lines."""
    buildx = _cli_output("buildx", "version").split()
    inspect = _cli_output("buildx", "inspect")
    buildkit = re.search(r"^\s*BuildKit version:\s*(\S+)", inspect, re.MULTILINE)
    driver = re.search(r"^Driver:\s*(\S+)", inspect, re.MULTILINE)
    return (
        f"docker {raw.get('ServerVersion')}; {image_store(raw)} image store; "
        f"buildx {buildx[1] if len(buildx) > 1 else 'missing'}"
        + (f" ({driver.group(1)} driver" if driver else "")
        + (f", BuildKit {buildkit.group(1)})" if buildkit else ")" if driver else "")
    )


def _info(raw: dict[str, Any], state: StateDir) -> EngineInfo:
    record = state.load_records().get(ENGINE_NAME)
    mirrors = (raw.get("RegistryConfig") or {}).get("Mirrors") or []
    managed = record_alive(record)
    return EngineInfo(
        version=str(raw.get("ServerVersion")),
        image_store=image_store(raw),
        mirrors=[str(m).rstrip("/") for m in mirrors],
        managed=managed,
        pid=record["pid"] if managed and record else None,
    )


def merge_daemon_json(path: Path = DAEMON_JSON) -> bool:
    """Add our mirror and defaults; keys someone else set stay as they are."""
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); fix it and run `up` again") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object; fix it and run `up` again")
    mirrors = list(data.get("registry-mirrors") or [])
    if LOCAL_MIRROR not in [str(m).rstrip("/") for m in mirrors]:
        mirrors.append(LOCAL_MIRROR)
    data["registry-mirrors"] = mirrors
    for key, value in _DAEMON_DEFAULTS.items():
        data.setdefault(key, value)
    features = data.get("features")
    data["features"] = {**(features if isinstance(features, dict) else {})}
    data["features"][CONTAINERD_STORE_FEATURE] = True
    return write_if_changed(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def service(state: StateDir) -> Service:
    return Service(
        name=ENGINE_NAME,
        label="engine",
        address="unix:///var/run/docker.sock",
        argv=["dockerd"],
        probe=_answers,
        ready_timeout=90.0,
        # The engine's BuildKit (20.10) ignores certs.d when it imports a registry cache; Go's
        # system pool, read once at start, comes from this bundle (system CAs + stand-ins).
        env={"SSL_CERT_FILE": str(state.ca_bundle)},
    )


def _trusts_bundle(pid: int, state: StateDir) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return True  # not ours to inspect (another OS): nothing to restart for
    return f"SSL_CERT_FILE={state.ca_bundle}".encode() in environ


def needs_install(state: StateDir) -> bool:
    """Whether `up` may have to install an engine: none answers, or ours falls short."""
    raw = query()
    if raw is None:
        return True
    return shortfall(raw) is not None and record_alive(state.load_records().get(ENGINE_NAME))


def ensure(state: StateDir, bundle_changed: bool = False) -> EngineInfo:
    """The engine; one devstack started is restarted when it falls short or its CA bundle is
    stale. One that someone else started and that falls short is an error saying why."""
    raw = query()
    if raw is not None:
        info = _info(raw, state)
        short = shortfall(raw)
        if short and not info.managed:
            raise UserError(
                f"the running Docker engine {short}; change that (or stop it, and `up` installs "
                "and starts a current engine as root on Debian) and run `up` again"
            )
        stale = bool(info.pid) and (bundle_changed or not _trusts_bundle(info.pid or 0, state))
        if not short and not stale:
            how = f"dockerd pid {info.pid}" if info.managed else "not started by devstack"
            progress(f"engine: up ({describe(raw)}; {how})")
            return info
        why = f"it {short}" if short else "BuildKit must trust the stand-in certificates"
        progress(f"engine: restarting dockerd: {why}")
        stop_service(ENGINE_NAME, "engine", state)
    if not packages.can_install() and not record_alive(state.load_records().get(ENGINE_NAME)):
        raise UserError(f"no Docker engine answers (`docker info` fails); {HOW_TO_START}")
    if not packages.engine_current():
        raise UserError(
            f"no dockerd {packages.MIN_ENGINE_MAJOR}+ with buildx is installed and it could not "
            f"be installed; {HOW_TO_START}"
        )
    merge_daemon_json()
    launched = launch(service(state), state)
    finish(launched, state)
    raw = query()
    if raw is None:
        raise UserError(
            f"dockerd (pid {launched.pid}) answers `docker version` but not `docker info`; "
            f"see {state.log(ENGINE_NAME)}"
        )
    short = shortfall(raw)
    if short:
        raise UserError(f"dockerd (pid {launched.pid}) started but {short}; see {DAEMON_JSON}")
    return _info(raw, state)


def stop(state: StateDir) -> None:
    """Stop dockerd only when devstack started it: an engine it found stays up."""
    record = state.load_records().get(ENGINE_NAME)
    if record_alive(record):
        stop_service(ENGINE_NAME, "engine", state)
    elif record:
        state.save_record(ENGINE_NAME, None)
