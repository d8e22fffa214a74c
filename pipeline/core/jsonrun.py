"""Run a tool that reports in JSON on stdout: hadolint, pip's install report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any


def run_json(command: list[str], *, cwd: Path, timeout: float, error: type[Exception]) -> Any:
    """The JSON `command` prints when it succeeds; else `error` with the first line it said."""
    with JsonRun(command, cwd=cwd, error=error) as run:
        return run.result(timeout)


class JsonRun:
    """A tool started now and read later, so that it runs while the caller works. As a context
    manager it never outlives the block: an interrupt or an error there kills it."""

    def __init__(self, command: list[str], *, cwd: Path, error: type[Exception]) -> None:
        self._error = error
        try:
            self._process = subprocess.Popen(
                command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        except OSError as exc:
            raise error(str(exc)) from exc

    def __enter__(self) -> JsonRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()

    def result(self, timeout: float) -> Any:
        """What the tool printed, waited for at most `timeout` seconds."""
        try:
            stdout, stderr = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise self._error(str(exc)) from exc
        if self._process.returncode != 0:
            return _fail(stdout, stderr, self._process.returncode, self._error)
        try:
            return json.loads(stdout)
        except json.JSONDecodeError:
            return _fail(stdout, stderr, self._process.returncode, self._error)


def _fail(stdout: str, stderr: str, returncode: int, error: type[Exception]) -> Any:
    said = (stderr or stdout).strip().splitlines()
    raise error(said[0] if said else f"exit status {returncode}")
