"""core: a tool that reports in JSON, run the way hadolint and pip's resolver are."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from pipeline.core.jsonrun import JsonRun, run_json


class ToolFailed(Exception):
    pass


def run(tmp_path: Path, code: str, timeout: float = 30) -> object:
    return run_json([sys.executable, "-c", code], cwd=tmp_path, timeout=timeout, error=ToolFailed)


def test_the_json_a_tool_prints_when_it_succeeds(tmp_path: Path) -> None:
    assert run(tmp_path, 'import os; print(\'[1, {"cwd": "%s"}]\' % os.getcwd())') == [
        1,
        {"cwd": str(tmp_path)},
    ]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        # JSON on stdout does not make a failure a success; the error is the first line said.
        ("import sys; print('[]'); sys.exit('bad input\\nmore')", "bad input"),
        ("print('not json')", "not json"),
        ("import sys; sys.exit(3)", "exit status 3"),
    ],
)
def test_a_tool_that_fails_is_the_callers_error(tmp_path: Path, code: str, message: str) -> None:
    with pytest.raises(ToolFailed) as raised:
        run(tmp_path, code)
    assert str(raised.value) == message


def test_a_tool_that_hangs_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    with pytest.raises(ToolFailed, match=r"timed out after 0\.5 seconds"):
        run(tmp_path, "import time; time.sleep(30)", timeout=0.5)


def test_a_tool_that_is_not_there_is_the_callers_error(tmp_path: Path) -> None:
    with pytest.raises(ToolFailed, match="No such file"):
        run_json([str(tmp_path / "absent")], cwd=tmp_path, timeout=30, error=ToolFailed)


def test_a_tool_started_alongside_is_stopped_when_the_block_ends_early(tmp_path: Path) -> None:
    started = tmp_path / "started"
    code = f"import time; open({str(started)!r}, 'w').write('yes'); time.sleep(10)"
    run = JsonRun([sys.executable, "-c", code], cwd=tmp_path, error=ToolFailed)
    with pytest.raises(KeyboardInterrupt), run:
        while not started.is_file() or not started.read_text():
            time.sleep(0.01)
        raise KeyboardInterrupt  # Ctrl-C while the caller works beside the tool
    assert run._process.returncode == -signal.SIGKILL
