"""console: what reaches stdout and stderr, and the release's step list off a terminal."""

from __future__ import annotations

import io
import json

import pytest

from pipeline.console.output import Output
from pipeline.console.progress import StepProgress

URL = "https://oauth2:glpat-secret@gitlab.example.com/g/p.git"


def test_results_go_to_stdout_as_json_or_text_and_notes_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    Output(json_mode=True, stream=stream).result({"source": URL}, "ignored")
    assert json.loads(stream.getvalue()) == {"source": "https://***@gitlab.example.com/g/p.git"}
    out = Output(verbose=0)
    out.result({}, f"pulled {URL}\n")
    out.warn(f"cannot reach {URL}")
    out.debug("only with -v")
    captured = capsys.readouterr()
    assert captured.out == "pulled https://***@gitlab.example.com/g/p.git\n"
    assert captured.err == "warning: cannot reach https://***@gitlab.example.com/g/p.git\n"
    assert out.warnings == ["cannot reach https://***@gitlab.example.com/g/p.git"]
    Output(verbose=1).debug("with -v")
    assert capsys.readouterr().err == "with -v\n"


def test_steps_are_plain_lines_with_their_times_off_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with StepProgress(Output(), ["split", "lint", "build"]) as progress:
        progress.start("split")
        seconds = progress.finish("split", "done")
        assert progress.finish("lint", "skipped") == 0.0
        progress.start("build")
        progress.finish("build", "failed", "exit 1")
    assert capsys.readouterr().err.splitlines() == [
        "release: split → lint → build",
        "▶ split",
        f"✓ split ({seconds:.1f}s)",
        "- lint",
        "▶ build",
        "✗ build (exit 1)",
    ]
    assert progress.status == {"split": "done", "lint": "skipped", "build": "failed"}
