"""Exit codes tell the truth: a closed stdout or stderr never turns a failure into success,
and SIGTERM unwinds like Ctrl-C (cleanup runs, exit 130). Real `python -m pipeline` processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

UNPINNED = 'FROM python\nCMD ["python"]\n'


def run_with_closed_output(
    *argv: str, cwd: Path, keep_stderr: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """`python -m pipeline ARGV 2>&1 | head -0`: the reader is gone before the first write
    (`keep_stderr`: only stdout's reader, as in `| head -0`, with stderr captured)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *argv],
            stdout=write,
            stderr=subprocess.PIPE if keep_stderr else write,
            cwd=cwd,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write)


def lint_project(root: Path) -> Path:
    (root / "Dockerfile").write_text(UNPINNED, encoding="utf-8")
    (root / ".dockerignore").write_text(".git\n", encoding="utf-8")
    (root / "pipeline.yaml").write_text("lint:\n  hadolint: false\n", encoding="utf-8")
    return root


def test_a_failure_keeps_its_exit_code_when_the_reader_left(tmp_path: Path) -> None:
    project = lint_project(tmp_path)
    assert run_with_closed_output("lint", cwd=project).returncode == 2
    assert run_with_closed_output("lint", "--json", cwd=project).returncode == 2
    (project / "pipeline.yaml").write_text("smoke:\n  port: eighty\n", encoding="utf-8")
    assert run_with_closed_output("config", cwd=project).returncode == 1


def test_a_success_stays_0_without_noise(tmp_path: Path) -> None:
    done = run_with_closed_output("config", "--reference", cwd=tmp_path, keep_stderr=True)
    assert done.returncode == 0
    assert done.stderr == b""  # no "Exception ignored ... BrokenPipeError"


def test_sigterm_stops_what_we_started_and_exits_130(tmp_path: Path) -> None:
    # A hadolint that hangs: the child process a real run has in flight when CI cancels it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "hadolint.pid"
    hadolint = bin_dir / "hadolint"
    hadolint.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n", encoding="utf-8")
    hadolint.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    lint_project(project)
    (project / "pipeline.yaml").write_text("lint:\n  hadolint: true\n", encoding="utf-8")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "lint"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not pid_file.is_file() or not pid_file.read_text().strip():
            assert time.monotonic() < deadline, "the fake hadolint never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130
    assert b"interrupted" in err
    assert b"Traceback" not in err
    assert not running(child), "the child outlived the pipeline"


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child whose reaper, PID 1 here, may not reap it)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.05)
    return True
