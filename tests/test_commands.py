"""The subcommands' options: a flag that overrides a configuration key beats the file, both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main

DOCKERFILE = "FROM python:3.11-slim\nCOPY . /app\n"


def hadolint_state(capsys: pytest.CaptureFixture[str], project: Path, *flags: str) -> str:
    assert main(["lint", "--json", "-C", str(project), *flags]) == 0
    (report,) = json.loads(capsys.readouterr().out)["files"]
    return str(report["hadolint"]["state"])


@pytest.mark.parametrize(
    ("configured", "flags", "state"),
    [
        ("true", (), "ran"),
        ("true", ("--no-hadolint",), "disabled"),
        ("false", (), "disabled"),
        ("false", ("--hadolint",), "ran"),
    ],
)
def test_a_boolean_flag_and_its_no_form_override_the_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    configured: str,
    flags: tuple[str, ...],
    state: str,
) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "pipeline.yaml").write_text(f"lint:\n  hadolint: {configured}\n")
    assert hadolint_state(capsys, tmp_path, *flags) == state


def test_the_flag_beats_the_environment_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    monkeypatch.setenv("PIPELINE_LINT_HADOLINT", "true")
    assert hadolint_state(capsys, tmp_path, "--no-hadolint") == "disabled"
    monkeypatch.setenv("PIPELINE_LINT_HADOLINT", "false")
    assert hadolint_state(capsys, tmp_path, "--hadolint") == "ran"
