"""The cloud control-plane stand-ins: moto for the ECR API, gar_server for Artifact Registry."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from pipeline.core.errors import UserError

from .layout import (
    GAR_API_HOST,
    GAR_API_NAME,
    GAR_API_PORT,
    GAR_ENDPOINT,
    MOTO_ENDPOINT,
    MOTO_HOST,
    MOTO_NAME,
    MOTO_PORT,
)
from .probe import http_status
from .procs import Service, log_tail, progress
from .state import StateDir

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_GAR_MODULE = (sys.executable, "-m", "devstack.gar_server")
_MOTO_MODULES = ("moto", "flask", "flask_cors")  # flask*: what the [server] extra adds


def _moto_installed() -> bool:
    return all(importlib.util.find_spec(module) is not None for module in _MOTO_MODULES)


def ensure_moto_installed(state: StateDir) -> None:
    if _moto_installed():
        return
    progress("moto: installing moto[server] (pip)")
    log = state.log("pip")
    with open(log, "ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "moto[server]"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    importlib.invalidate_caches()
    if done.returncode != 0 or not _moto_installed():
        raise UserError(
            f"could not install moto[server] with {sys.executable} -m pip; "
            f"log {log}: {log_tail(log, 3)}"
        )


def moto_service() -> Service:
    return Service(
        name=MOTO_NAME,
        label="moto (ECR API)",
        address=MOTO_ENDPOINT,
        # Our interpreter, not whatever `moto_server` is first on PATH: this is the
        # Python we just checked (or installed) moto[server] in.
        argv=[sys.executable, "-m", "moto.server", "-H", MOTO_HOST, "-p", str(MOTO_PORT)],
        probe=lambda: http_status(f"{MOTO_ENDPOINT}/moto-api/") == 200,
        process_name="moto_server",
    )


def gar_service() -> Service:
    pythonpath = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return Service(
        name=GAR_API_NAME,
        label="artifact registry API",
        address=GAR_ENDPOINT,
        argv=[*_GAR_MODULE, "--host", GAR_API_HOST, "--port", str(GAR_API_PORT)],
        probe=lambda: http_status(f"{GAR_ENDPOINT}/healthz") == 200,
        # The server's own source is part of its spec: editing it restarts it on `up`.
        spec_files=[Path(__file__).with_name("gar_server.py")],
        env={"PYTHONPATH": pythonpath},
        cwd=_PROJECT_ROOT,
        ready_timeout=20.0,
        process_name="gar_server",
    )
