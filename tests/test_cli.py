"""The CLI frame: help for every subcommand, exit codes of the error handler, start-up cost."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.core.errors import UserError

DATA = Path(__file__).resolve().parent / "data"


def run_module(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *argv], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    result = run_module(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: pipeline {command}" in result.stdout
    assert "--json" in result.stdout


def test_unknown_subcommand_is_a_user_error() -> None:
    result = run_module("deploy")
    assert result.returncode == 1
    assert "invalid choice: 'deploy'" in result.stderr
    assert "Traceback" not in result.stderr


def test_options_work_before_and_after_the_subcommand(tmp_path) -> None:
    before = run_module("--json", "-C", str(tmp_path), "config")
    after = run_module("config", "--json", "-C", str(tmp_path))
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout
    assert before.stdout.startswith("{")


def test_error_handler_maps_exceptions_to_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def raising(exc: BaseException):
        def run(ctx: object) -> int:
            raise exc

        return run

    config_module = cli._command_module("config")
    cases = [
        (UserError("pipeline.yaml: bad"), 1, "error: pipeline.yaml: bad"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (RuntimeError("boom"), 3, "Traceback"),
    ]
    for exc, code, text in cases:
        monkeypatch.setattr(config_module, "run", raising(exc))
        assert cli.main(["config"]) == code
        err = capsys.readouterr().err
        assert text in err
        if code == 1:
            assert "Traceback" not in err


def test_help_loads_no_heavy_sdk() -> None:
    # Heavy SDKs (boto3, google-cloud, docker) must not load for --help.
    probe = (
        "import sys, pipeline.cli as c; c.build_parser();"
        "print(','.join(m for m in ('boto3', 'google.cloud', 'docker', 'git') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [(["--help"], []), (["lint", "--help"], ["pipeline.commands.lint"])],
)
def test_help_imports_only_the_chosen_command(argv: list[str], loaded: list[str]) -> None:
    # The top-level help lists the commands from their table; a command's module loads when
    # it is named.
    probe = (
        "import contextlib, io, sys, pipeline.cli as c\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        f"    c.main({argv!r})\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('pipeline.commands.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [",".join(sorted([*loaded, "pipeline.commands.options"]))]


def test_version_is_printed() -> None:
    result = run_module("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pipeline ")


@pytest.mark.parametrize("command", ["config", "init", "lint", "version"])
def test_a_project_dir_that_is_missing_or_a_file_is_an_error(tmp_path, command: str) -> None:
    missing = run_module("-C", str(tmp_path / "nope"), command)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == (
        f"error: -C {tmp_path / 'nope'}: no such directory; -C names the model project's "
        "directory\n"
    )
    (tmp_path / "file").write_text("")
    a_file = run_module(command, "-C", str(tmp_path / "file"))
    assert a_file.returncode == 1
    assert f"error: -C {tmp_path / 'file'}: is not a directory" in a_file.stderr


def test_an_unknown_subcommand_gets_the_close_one() -> None:
    result = run_module("biuld")
    assert result.returncode == 1
    assert "invalid choice: 'biuld'" in result.stderr
    assert result.stderr.endswith("; did you mean build? (see --help)\n")


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["lint", "--ignor", "DL3008"], "--ignore"),
        (["lint", "--fail=warning"], "--fail-on"),
        (["config", "--proj", "."], "--project-dir"),
        (["version", "--bump", "minr"], "minor"),
    ],
)
def test_abbreviations_are_refused_with_the_option_meant(argv: list[str], meant: str) -> None:
    # argparse's allow_abbrev took `--ignor` for `--ignore`, and any later flag sharing the
    # prefix would have changed what an old command line means.
    result = run_module(*argv)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.endswith(f"; did you mean {meant}? (see --help)\n"), result.stderr


@pytest.mark.parametrize(
    ("command", "switch"),
    [
        ("build", "--push, --no-push"),
        ("build", "--allow-dirty, --no-allow-dirty"),
        ("lint", "--hadolint, --no-hadolint"),
        ("release", "--smoke, --no-smoke"),
        ("split", "--resolve, --no-resolve"),
    ],
)
def test_the_no_switches_the_readme_documents_are_in_the_help(command: str, switch: str) -> None:
    assert switch in run_module(command, "--help").stdout


def test_a_switch_and_its_no_form_override_the_configuration(tmp_path) -> None:
    project = shutil.copytree(DATA / "lint" / "good", tmp_path / "good")
    (project / "pipeline.yaml").write_text("lint:\n  hadolint: true\n")
    off = json.loads(run_module("lint", "--json", "-C", str(project), "--no-hadolint").stdout)
    assert off["files"][0]["hadolint"]["state"] == "disabled"
    (project / "pipeline.yaml").write_text("lint:\n  hadolint: false\n")
    on = json.loads(run_module("lint", "--json", "-C", str(project), "--hadolint").stdout)
    assert on["files"][0]["hadolint"]["state"] == "ran"
