"""Run a tool that reports in JSON on stdout: hadolint, pip's install report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def run_json(command: list[str], *, cwd: Path, timeout: float, error: type[Exception]) -> Any:
    """The JSON `command` prints when it succeeds; else `error` with the first line it said."""
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(str(exc)) from exc
    try:
        return json.loads(done.stdout) if done.returncode == 0 else _fail(done, error)
    except json.JSONDecodeError:
        return _fail(done, error)


def _fail(done: subprocess.CompletedProcess[str], error: type[Exception]) -> Any:
    said = (done.stderr or done.stdout).strip().splitlines()
    raise error(said[0] if said else f"exit status {done.returncode}")
