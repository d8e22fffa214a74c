"""The OCI registries: the local one (Docker Hub mirror) and the TLS cloud stand-ins.

Each is a distribution registry with a config.yml under registries/NAME/ in the state dir,
run as Debian's `docker-registry` process, or, where that package is missing but an engine
runs (a laptop with Docker Desktop), as a `registry:2` container with the same config.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError

from .layout import HUB_USERNAME, RegistrySpec
from .probe import http_status
from .procs import Service, progress, wait_until
from .state import StateDir, write_if_changed

REGISTRY_IMAGE = "registry:2"
_CONTAINER_ROOT = "/srv/registry"
_SPEC_LABEL = "devstack.spec"


def use_containers() -> bool:
    return shutil.which("docker-registry") is None


def root(spec: RegistrySpec, state: StateDir) -> Path:
    return state.registry_dir(spec.name)


def cert_paths(spec: RegistrySpec, state: StateDir) -> tuple[Path, Path]:
    tls = root(spec, state) / "tls"
    return tls / "cert.pem", tls / "key.pem"


def _spec_files(spec: RegistrySpec, state: StateDir) -> list[Path]:
    files = [root(spec, state) / "config.yml"]
    if spec.tls:
        files.extend(cert_paths(spec, state))
    if spec.htpasswd:
        files.append(root(spec, state) / "htpasswd")
    return files


def _config(spec: RegistrySpec, base: str, addr: str) -> dict[str, Any]:
    http: dict[str, Any] = {"addr": addr, "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if spec.tls:
        http["tls"] = {"certificate": f"{base}/tls/cert.pem", "key": f"{base}/tls/key.pem"}
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "fields": {"service": spec.name}},
        "storage": {
            "filesystem": {"rootdirectory": f"{base}/data"},
            # delete: lets tests and `pipeline` clean up tags they pushed.
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": http,
    }
    if spec.htpasswd:
        config["auth"] = {"htpasswd": {"realm": spec.host, "path": f"{base}/htpasswd"}}
    return config


def _hash_password(user: str, password: str) -> str:
    if shutil.which("htpasswd"):
        # -i reads the password from stdin, so it never shows in `ps`.
        done = subprocess.run(
            ["htpasswd", "-iBn", user], input=password, capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            return done.stdout.strip()
        raise UserError(f"htpasswd failed: {done.stderr.strip()}")
    try:
        import bcrypt
    except ImportError as exc:
        raise UserError(
            "cannot make the hub registry's htpasswd file: install apache2-utils (htpasswd) "
            "or `pip install bcrypt`"
        ) from exc
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}"


def _htpasswd_matches(path: Path, user: str, password: str) -> bool:
    if not path.exists():
        return False
    if shutil.which("htpasswd") is None:
        return True  # cannot check; a file we wrote earlier is the best guess
    done = subprocess.run(
        ["htpasswd", "-vi", str(path), user], input=password, capture_output=True, text=True
    )
    return done.returncode == 0


def prepare(spec: RegistrySpec, state: StateDir, password: str, in_container: bool) -> Path:
    """Write config.yml (and htpasswd); the cert is made beforehand by certs.ensure_cert."""
    base_dir = root(spec, state)
    (base_dir / "data").mkdir(parents=True, exist_ok=True)
    if spec.htpasswd:
        htpasswd = base_dir / "htpasswd"
        # Re-hash only when needed: a new salt changes the file and restarts the registry.
        if not _htpasswd_matches(htpasswd, HUB_USERNAME, password):
            write_if_changed(htpasswd, _hash_password(HUB_USERNAME, password) + "\n", 0o600)
    if in_container:
        config = _config(spec, _CONTAINER_ROOT, f":{spec.port}")
    else:
        config = _config(spec, str(base_dir), spec.bind)
    path = base_dir / "config.yml"
    # JSON is YAML, and it needs no YAML library.
    write_if_changed(path, json.dumps(config, indent=2) + "\n")
    return path


def answers(spec: RegistrySpec, state: StateDir) -> bool:
    cafile = cert_paths(spec, state)[0] if spec.tls else None
    return http_status(spec.v2_url, cafile=cafile) in (200, 401)


def accepts_login(spec: RegistrySpec, state: StateDir, password: str) -> bool:
    cafile = cert_paths(spec, state)[0] if spec.tls else None
    return http_status(spec.v2_url, cafile=cafile, auth=(HUB_USERNAME, password)) == 200


def service(spec: RegistrySpec, state: StateDir) -> Service:
    return Service(
        name=spec.name,
        label=spec.label,
        address=spec.bind if not spec.tls else f"{spec.host} -> {spec.bind}",
        argv=["docker-registry", "serve", str(root(spec, state) / "config.yml")],
        probe=lambda: answers(spec, state),
        spec_files=_spec_files(spec, state),
        ready_timeout=30.0,
    )


# -- container mode -----------------------------------------------------------------------
# Not exercised on the Debian CI machine (it has the package, and `bridge: none` leaves
# no port publishing); it is the path for a laptop whose Docker Desktop engine runs already.


def container_name(spec: RegistrySpec) -> str:
    return f"pipeline-devstack-{spec.name}"


def _docker(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def ensure_container(spec: RegistrySpec, state: StateDir) -> None:
    name = container_name(spec)
    digest = service(spec, state).spec() + ":" + REGISTRY_IMAGE
    template = f'{{{{.State.Running}}}} {{{{index .Config.Labels "{_SPEC_LABEL}"}}}}'
    seen = _docker(["inspect", "--format", template, name])
    current = seen.returncode == 0 and seen.stdout.split() == ["true", digest]
    if current and wait_until(lambda: answers(spec, state), timeout=15):
        progress(f"{spec.label}: up (container {name})")
        return
    _docker(["rm", "-f", name])
    started = _docker(
        [
            "run", "-d", "--name", name,
            "--label", f"{_SPEC_LABEL}={digest}",
            "--restart", "unless-stopped",
            "-p", f"{spec.bind_ip}:{spec.port}:{spec.port}",
            "-v", f"{root(spec, state)}:{_CONTAINER_ROOT}",
            REGISTRY_IMAGE, f"{_CONTAINER_ROOT}/config.yml",
        ]
    )  # fmt: skip
    if started.returncode != 0:
        raise UserError(
            f"{spec.label}: `docker run {REGISTRY_IMAGE}` failed: {started.stderr.strip()}"
        )
    state.save_record(spec.name, {"container": name, "spec": digest, "address": spec.bind})
    if not wait_until(lambda: answers(spec, state), timeout=30):
        logs = _docker(["logs", "--tail", "5", name])
        raise UserError(
            f"{spec.label}: container {name} does not answer on {spec.bind}: "
            f"{(logs.stdout + logs.stderr).strip()[-400:]}"
        )
    progress(f"{spec.label}: started container {name}")


def container_pid(name: str) -> int | None:
    seen = _docker(["inspect", "--format", "{{.State.Pid}}", name])
    try:
        pid = int(seen.stdout.strip())
    except ValueError:
        return None
    return pid or None


def stop_container(spec: RegistrySpec, state: StateDir) -> None:
    name = container_name(spec)
    if _docker(["rm", "-f", name]).returncode == 0:
        progress(f"{spec.label}: removed container {name}")
    state.save_record(spec.name, None)
