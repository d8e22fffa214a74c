"""The state directory: where the stack keeps PIDs, configs, certs, registry data and logs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError

STATE_DIR_ENV = "PIPELINE_STACK_DIR"
_LOCK_NAME = ".lock"


def default_state_dir() -> Path:
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".local" / "state" / "pipeline-stack"


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def pids_file(self) -> Path:
        return self.root / "pids.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def ca_bundle(self) -> Path:
        return self.root / "ca-bundle.pem"

    def registry_dir(self, name: str) -> Path:
        return self.root / "registries" / name

    def log(self, name: str) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f"{name}.log"

    def ensure(self) -> None:
        try:
            for path in (self.root, self.logs):
                path.mkdir(parents=True, exist_ok=True)
            self.secrets.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create the state dir {self.root} ({exc.strerror}); "
                f"set {STATE_DIR_ENV} to a writable directory"
            ) from exc

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise `up`/`down`: several pytest sessions may call ensure_up() at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / _LOCK_NAME, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- process records -------------------------------------------------------------------

    def load_records(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.pids_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_record(self, name: str, record: dict[str, Any] | None) -> None:
        records = self.load_records()
        if record is None:
            records.pop(name, None)
        else:
            records[name] = record
        _write_atomic(self.pids_file, json.dumps(records, indent=2, sort_keys=True) + "\n")

    # -- secrets ---------------------------------------------------------------------------

    def secret(self, name: str) -> str:
        """A random secret, generated once and kept 0600 so every `up` reuses it."""
        self.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.secrets / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        value = secrets.token_urlsafe(24)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value

    def purge(self) -> None:
        """Remove everything but the lock file another process may be waiting on."""
        import shutil

        if not self.root.exists():
            return
        for entry in self.root.iterdir():
            if entry.name == _LOCK_NAME:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def write_if_changed(path: Path, content: str | bytes, mode: int | None = None) -> bool:
    """Write only on change, so a file's mtime and any digest built on it stay stable."""
    data = content.encode() if isinstance(content, str) else content
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data, mode)
    return True


def _write_atomic(path: Path, content: str | bytes, mode: int | None = None) -> None:
    data = content.encode() if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if mode is None else mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if mode is None:
        os.chmod(tmp, 0o644)
    os.replace(tmp, path)
