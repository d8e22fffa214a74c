"""Background processes the stack owns: start, recognise by recorded PID, wait for, stop."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError

from .state import StateDir

# Popen objects we spawned stay referenced so Python reaps them quietly instead of
# warning about a still-running child when the object is garbage-collected.
_CHILDREN: list[subprocess.Popen[bytes]] = []
_LOG_ROTATE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Service:
    """One long-running process of the stack, described well enough to start and check it."""

    name: str  # key in pids.json and log file name
    label: str  # what progress lines and `status` call it
    address: str
    argv: Sequence[str]
    probe: Callable[[], bool]
    spec_files: Sequence[Path] = ()
    env: dict[str, str] | None = None
    cwd: Path | None = None
    ready_timeout: float = 60.0
    process_name: str = ""  # for progress lines; defaults to the program's name

    @property
    def program(self) -> str:
        return self.process_name or Path(self.argv[0]).name

    def spec(self) -> str:
        """A digest of what the process was started with: a change means restart it.

        The program's path is left out: `up` run from another virtualenv's Python must
        not restart (and so wipe) a moto that serves the same arguments.
        """
        digest = hashlib.sha256("\0".join([self.program, *self.argv[1:]]).encode())
        for path in self.spec_files:
            digest.update(b"\0" + str(path).encode() + b"\0")
            with contextlib.suppress(FileNotFoundError):
                digest.update(path.read_bytes())
        return digest.hexdigest()[:16]


def _start_time(pid: int) -> str | None:
    """The kernel's start tick of a PID: tells our process apart from a recycled PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie is dead, whatever kill(0) says
        return None
    return fields[19]


def pid_alive(pid: int, start_time: str | None = None) -> bool:
    if pid <= 0:
        return False
    _reap(pid)
    if Path("/proc").is_dir():
        current = _start_time(pid)
        if current is None:
            return False
        return start_time is None or current == start_time
    try:  # no /proc (macOS): the best we have
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def record_alive(record: dict[str, Any] | None) -> bool:
    if not record or not isinstance(record.get("pid"), int):
        return False
    return pid_alive(record["pid"], record.get("start_time"))


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn(service: Service, state: StateDir) -> int:
    """Start detached (own session) so the process outlives the CLI or pytest that started it."""
    log_path = state.log(service.name)
    if log_path.exists() and log_path.stat().st_size > _LOG_ROTATE_BYTES:
        log_path.replace(log_path.with_suffix(".log.1"))  # registries log every request
    env = dict(os.environ)
    if service.env:
        env.update(service.env)
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%F %T')} {' '.join(service.argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(service.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=service.cwd or state.root,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise UserError(f"{service.label}: cannot start {service.argv[0]}: {exc}") from exc
    _CHILDREN.append(proc)
    state.save_record(
        service.name,
        {
            "pid": proc.pid,
            "start_time": _start_time(proc.pid),
            "spec": service.spec(),
            "address": service.address,
            "argv": list(service.argv),
        },
    )
    return proc.pid


def stop_pid(pid: int, start_time: str | None, timeout: float = 20.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. Returns whether a process was there to stop."""
    if not pid_alive(pid, start_time):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, start_time):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not pid_alive(pid, start_time):
            break
        time.sleep(0.1)
    return True


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    # Skip blank lines and the `--- date argv` headers spawn() writes between runs.
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    tail = [line for line in kept if not line.startswith("--- ")][-lines:]
    return " | ".join(tail) or "(empty log)"


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_ready(service: Service, state: StateDir, pid: int) -> None:
    """Wait for the probe; fail fast with the log's last lines if the process dies instead."""
    record = state.load_records().get(service.name, {})
    start_time = record.get("start_time") if record.get("pid") == pid else None
    deadline = time.monotonic() + service.ready_timeout
    while time.monotonic() < deadline:
        if service.probe():
            return
        if not pid_alive(pid, start_time):
            raise UserError(
                f"{service.label}: process {pid} exited before answering; "
                f"log {state.log(service.name)}: {log_tail(state.log(service.name))}"
            )
        time.sleep(0.2)
    raise UserError(
        f"{service.label}: no answer on {service.address} after {service.ready_timeout:.0f}s; "
        f"log {state.log(service.name)}: {log_tail(state.log(service.name))}"
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Launch:
    """The outcome of `launch`: which PID serves, and whether we must still wait for it."""

    service: Service
    pid: int
    fresh: bool
    note: str = ""


def launch(service: Service, state: StateDir) -> Launch:
    """Reuse our recorded process when it still matches its spec; otherwise (re)start it."""
    record = state.load_records().get(service.name)
    if record_alive(record):
        assert record is not None
        if record.get("spec") == service.spec():
            return Launch(service, record["pid"], fresh=False)
        stop_pid(record["pid"], record.get("start_time"))
        state.save_record(service.name, None)
        note = "configuration changed"
    else:
        if record:
            state.save_record(service.name, None)
        note = ""
        if service.probe():
            raise UserError(
                f"{service.label}: {service.address} is already served by a process devstack "
                "did not start; stop it (`ss -ltnp` names it) and run `up` again"
            )
    pid = spawn(service, state)
    return Launch(service, pid, fresh=True, note=note)


def finish(launched: Launch, state: StateDir) -> None:
    """Wait for a launch and print its one progress line."""
    service = launched.service
    if launched.fresh:
        wait_ready(service, state, launched.pid)
        verb = f"{launched.note}, restarted" if launched.note else "started"
        progress(f"{service.label}: {verb} {service.program} (pid {launched.pid})")
        return
    # Ours and alive, but maybe still starting (a concurrent `up`) or wedged: give it a while.
    if wait_until(service.probe, timeout=min(15.0, service.ready_timeout)):
        progress(f"{service.label}: up (pid {launched.pid}, {service.address})")
        return
    record = state.load_records().get(service.name, {})
    stop_pid(launched.pid, record.get("start_time"))
    state.save_record(service.name, None)
    pid = spawn(service, state)
    wait_ready(service, state, pid)
    progress(f"{service.label}: did not answer, restarted {service.program} (pid {pid})")


def stop_service(name: str, label: str, state: StateDir) -> None:
    record = state.load_records().get(name)
    if record and isinstance(record.get("pid"), int):
        if stop_pid(record["pid"], record.get("start_time")):
            progress(f"{label}: stopped (pid {record['pid']})")
        else:
            progress(f"{label}: was not running")
    state.save_record(name, None)
