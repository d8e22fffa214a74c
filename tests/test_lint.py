"""`pipeline lint`: the rules on real Dockerfiles, the real hadolint binary, the CLI.

Fixtures live in tests/data/lint/: one directory per rule (a Dockerfile that breaks only that
rule, with its build context), `good/` (clean for ours and hadolint's), `hadolint/` and
`pragma/`. The templates in dockerfiles/ and examples/ are linted as they are shipped.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.lint import Report, Severity, lint_dockerfile
from pipeline.lint.hadolint import Hadolint
from pipeline.lint.rules import RULES
from pipeline.project.buildcontext import read_context
from pipeline.project.dockerfile import parse
from pipeline.project.shell import commands
from pipeline.secrets import scan_context
from tests.test_secrets import ALNUM, HF, pem

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "lint"

# Globbed at collection time, so templates added later are linted too.
TEMPLATES = sorted([*ROOT.glob("dockerfiles/*/Dockerfile"), *ROOT.glob("examples/*/Dockerfile")])
EXPECTED_TEMPLATES = {
    "dockerfiles/cpu",
    "dockerfiles/pytorch-gpu",
    "dockerfiles/tensorflow-gpu",
    "dockerfiles/cuda",
    "dockerfiles/llm",
    "dockerfiles/pytorch-pypi",
    "examples/churn",
    "examples/sentiment",
}
SHARED_DOCKERIGNORE = ROOT / "dockerfiles" / "common" / ".dockerignore"


def lint(project: Path, *overrides: tuple[str, str], dockerfile: str = "Dockerfile") -> Report:
    config = load_config(project, overrides=list(overrides))
    build = read_context(project / dockerfile, config.path(config.project.context))
    return lint_dockerfile(build, config)


def ours(report: Report) -> list[tuple[str, int | None]]:
    return [(f.id, f.line) for f in report.findings if f.source == "pipeline"]


# --- one fixture per rule -------------------------------------------------------------------

FIXTURE_LINES: dict[str, list[int | None]] = {
    "ML001": [4, 5, 6, 7],  # untagged via ARG, latest, ARG without default, registry port
    "ML002": [7],  # USER root after USER app
    "ML003": [6],  # final FROM: the builder's ENV is not inherited
    "ML004": [5, 9, 10],  # plain pip; uv pip install, uv pip sync. Cache mount, env, flag pass
    "ML005": [6, 7],  # COPY . and COPY <dir>; installing the project after its deps passes
    "ML006": [4],  # the heredoc RUN that removes the lists passes
    "ML007": [4],  # -o APT::Install-Recommends=false passes
    "ML008": [5],  # final FROM: the builder's HEALTHCHECK is not inherited
    "ML009": [4],  # inherited from runtime-base
    "ML010": [6],  # the -devel build stage passes, the -devel final stage does not
    "ML011": [None],
    "ML013": [5],  # the split files and an app-only file pass
    "ML014": [5, 8, 13],  # a pin the base's torch misses, --upgrade, an isolated venv
    "ML015": [6],  # the +cpu build passes
    "ML016": [4],  # the cu124 build on the CUDA 12.4 base passes
    "ML017": [4],  # RUNN
    "ML018": [4, 5],  # a token and a password as ARGs; the secret mount passes
}


@pytest.mark.parametrize(("rule_id", "lines"), FIXTURE_LINES.items())
def test_rule_fires_on_its_fixture_and_no_other_rule_does(
    rule_id: str, lines: list[int | None]
) -> None:
    report = lint(DATA / rule_id)
    assert ours(report) == [(rule_id, line) for line in lines]
    assert report.hadolint.state == "ran"


ENV_SECRET = "DEBUG=1\nHF_TOKEN=" + HF + "\n"
CA_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
# file created in the context -> (what it holds, reported after .dockerignore?)
SECRETS = {
    ".env": (ENV_SECRET, False),  # `.env` excludes it at the root...
    "app/.env": (ENV_SECRET, True),  # ...but patterns are anchored: not here
    ".env.production": (ENV_SECRET, True),
    ".env.example": ("HF_TOKEN=hf_your_token_here\n", False),  # a template, not a secret
    "certs/server.pem": (pem("EC"), True),
    "certs/ca.pem": (CA_CERTIFICATE, False),  # a public certificate: no secret, by its content
    "certs/server.key": (pem("RSA"), False),  # **/*.key
    "secrets/id_rsa": (pem("RSA"), False),  # an excluded directory, never entered
    "keys/private.pem": (pem("RSA"), False),  # keys/ is excluded...
    "keys/public.pem": (pem("RSA"), True),  # ...but !keys/public.pem brings it back
    ".aws/credentials": ("[default]\naws_access_key_id = AKIA" + "Q7RSTUVWXYZ23456\n", True),
    "gha-creds-1a2b3c4d.json": ("{}\n", True),
    "config/credentials-prod.json": (
        '{"type": "service_account", "private_key": "' + pem("").replace("\n", "\\n") + '"}\n',
        True,
    ),
    "node_modules/pkg/.npmrc": ("//registry.npmjs.org/:_authToken=npm_" + ALNUM + "\n", False),
    ".pypirc": ("[pypi]\npassword = pypi-" + ALNUM + "\n", True),
    "home/.netrc": ("machine example.com\n", True),
    "id_rsa.pub": ("ssh-ed25519 AAAAC3Nza me@host\n", False),  # a public key
}


def test_secret_files_in_the_context_are_reported_unless_dockerignored(tmp_path: Path) -> None:
    # Created here rather than committed: global gitignores and secret scanners drop such files.
    project = shutil.copytree(DATA / "ML012", tmp_path / "project")
    for name, (text, _) in SECRETS.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    report = lint(project)
    assert {f.file for f in report.findings if f.id == "ML012"} == {
        name for name, (_, reported) in SECRETS.items() if reported
    }
    assert {f.id for f in report.findings if f.source == "pipeline"} == {"ML012"}
    assert all(f.severity is Severity.ERROR for f in report.findings)


def test_lint_and_build_make_one_judgement_on_secrets(tmp_path: Path) -> None:
    """A public CA certificate named `.pem` passes both; a private key under any name fails
    both (issue 26: lint stopped a release on a CA certificate the build rightly sent)."""
    project = shutil.copytree(DATA / "ML012", tmp_path / "project")
    (project / "ca-bundle.pem").write_text(CA_CERTIFICATE)
    (project / "model-signing.txt").write_text(pem("RSA"))
    report = lint(project)
    build = read_context(project / "Dockerfile", project)
    scanned = {finding.path for finding in scan_context(build)}
    assert {f.file for f in report.findings if f.id == "ML012"} == scanned == {"model-signing.txt"}


def test_good_dockerfile_is_clean_for_ours_and_hadolint() -> None:
    report = lint(DATA / "good")
    assert report.findings == ()
    assert report.hadolint.state == "ran"
    assert report.dockerignore == ".dockerignore"


def test_every_rule_has_a_fixture_and_a_section_in_rules_md() -> None:
    assert {rule.id for rule in RULES} == {*FIXTURE_LINES, "ML012"}
    doc = (ROOT / "pipeline" / "lint" / "RULES.md").read_text()
    for rule in RULES:
        assert f"\n## {rule.id} — " in doc and f"({rule.severity})\n" in doc, rule.id
        assert f"| {rule.id} | {rule.severity} | {rule.title} |" in doc, rule.id


# --- variants written on the fly: inheritance, ARGs, flags, targets ------------------------

TAIL = """ENV PYTHONUNBUFFERED=1
USER 10001
HEALTHCHECK --start-period=60s CMD ["python", "-c", "print('ok')"]
"""
VARIANTS: dict[str, tuple[str, list[tuple[str, int | None]]]] = {
    "stage name is not an image": (
        "FROM python:3.11-slim AS base\nFROM base\n" + TAIL,
        [],
    ),
    "ARG default with ${VAR:-default}": (
        "ARG TAG\nFROM python:${TAG:-3.11-slim}\n" + TAIL,
        [],
    ),
    "no USER at all": (
        "FROM python:3.11-slim\nENV PYTHONUNBUFFERED=1\n"
        'HEALTHCHECK --start-period=1m CMD ["true"]\n',
        [("ML002", 1)],
    ),
    "USER 0:0 is root": (
        "FROM python:3.11-slim\n" + TAIL + "USER 0:0\n",
        [("ML002", 5)],
    ),
    "USER, ENV and HEALTHCHECK inherited from the parent stage": (
        "FROM python:3.11-slim AS base\n" + TAIL + "FROM base\n",
        [],
    ),
    "an ARG is not the container's environment": (
        "FROM python:3.11-slim\nARG PYTHONUNBUFFERED=1\nUSER 10001\n"
        'HEALTHCHECK --start-period=1m CMD ["true"]\n',
        [("ML003", 1)],
    ),
    "PIP_NO_CACHE_DIR as ENV before the RUN": (
        "FROM python:3.11-slim\nENV PIP_NO_CACHE_DIR=1\nRUN pip install -r r.txt\n" + TAIL,
        [],
    ),
    "PIP_NO_CACHE_DIR set after the RUN": (
        "FROM python:3.11-slim\nRUN pip install -r r.txt\nENV PIP_NO_CACHE_DIR=1\n" + TAIL,
        [("ML004", 2)],
    ),
    "pip in exec form and inside bash -c": (
        'FROM python:3.11-slim\nRUN ["pip", "install", "flask"]\n'
        "RUN bash -o pipefail -c 'pip3 install flask | tee /tmp/log'\n" + TAIL,
        [("ML004", 2), ("ML004", 3)],
    ),
    "uv sync of the project after uv sync --no-install-project": (
        "FROM python:3.11-slim\nCOPY pyproject.toml uv.lock ./\n"
        "RUN uv sync --no-cache --frozen --no-install-project\nCOPY . .\n"
        "RUN uv sync --no-cache --frozen\n" + TAIL,
        [],
    ),
    "--no-deps install of the code alone": (
        "FROM python:3.11-slim\nCOPY src/ /src/\nRUN pip install --no-cache-dir --no-deps /src\n"
        + TAIL,
        [],
    ),
    "conda install after COPY .": (
        "FROM python:3.11-slim\nCOPY . /app\nRUN conda install -y numpy\n" + TAIL,
        [("ML005", 2)],
    ),
    "apt-get in a continued RUN with a comment line inside": (
        "FROM python:3.11-slim\nRUN apt-get update \\\n# curl for the health check\n"
        "    && apt-get -y install curl \\\n    && rm -rf /var/lib/apt/lists/*\n" + TAIL,
        [("ML007", 2)],
    ),
    "the RUN empties the cache itself, or is told not to keep it": (
        "FROM python:3.11-slim\nRUN pip install -r r.txt && rm -rf /root/.cache/pip\n"
        "RUN pip3 install -r r.txt; pip3 cache purge\nRUN pip install --no-cache -r r.txt\n"
        "RUN UV_NO_CACHE=1 uv pip install -r r.txt && uv sync --no-cache-dir\n"
        "RUN uv pip install -r r.txt && rm -rf ~/.cache\n" + TAIL,
        [],
    ),
    "the cache emptied before the install, or another tool's": (
        "FROM python:3.11-slim\nRUN rm -rf /root/.cache/pip && pip install -r r.txt\n"
        "RUN uv pip install -r r.txt && rm -rf /root/.cache/pip\n" + TAIL,
        [("ML004", 2), ("ML004", 3)],
    ),
    "tool installs, then COPY . before the dependency install": (
        "FROM python:3.11-slim\nRUN pip install --no-cache-dir -U pip setuptools wheel\n"
        "RUN pip install --no-cache-dir poetry==1.8.3 uv\nCOPY . .\n"
        "RUN pip install --no-cache-dir -r requirements.txt uv\n" + TAIL,
        [("ML005", 4)],
    ),
    "USER from an ENV, and from an ARG without a value": (
        "ARG APP_UID\nFROM python:3.11-slim\nARG APP_UID\nENV RUN_AS=root\nUSER $APP_UID\n"
        + TAIL.replace("USER 10001", "USER ${RUN_AS}"),
        [("ML002", 7)],
    ),
    "nested ARG defaults and a build arg under them": (
        "ARG V=latest\nARG B=python:${V}\nFROM ${B}\n" + TAIL,
        [("ML001", 3)],
    ),
    "HEALTHCHECK NONE": (
        "FROM python:3.11-slim\nENV PYTHONUNBUFFERED=1\nUSER 10001\nHEALTHCHECK NONE\n",
        [("ML008", 1)],
    ),
    "zero start period": (
        "FROM python:3.11-slim\nENV PYTHONUNBUFFERED=1\nUSER 10001\n"
        'HEALTHCHECK --start-period=0s CMD ["true"]\n',
        [("ML009", 4)],
    ),
    "final stage FROM a -devel stage": (
        "FROM nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04 AS build\nFROM build\n" + TAIL,
        [("ML010", 2)],
    ),
}


@pytest.mark.parametrize(("text", "expected"), VARIANTS.values(), ids=list(VARIANTS))
def test_rule_variants(tmp_path: Path, text: str, expected: list[tuple[str, int | None]]) -> None:
    (tmp_path / "Dockerfile").write_text(text)
    (tmp_path / ".dockerignore").write_text(".git\n")
    assert ours(lint(tmp_path, ("lint.hadolint", "false"))) == expected


def test_build_args_and_target_come_from_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE} AS serve\n" + TAIL + "FROM serve AS debug\nUSER root\n"
    )
    (tmp_path / ".dockerignore").write_text(".git\n")
    no_hadolint = ("lint.hadolint", "false")
    assert ours(lint(tmp_path, no_hadolint)) == [("ML001", 2), ("ML002", 7)]
    build_arg = ("image.build_args", "BASE=python:3.11-slim")
    report = lint(tmp_path, no_hadolint, build_arg, ("image.target", "serve"))
    assert ours(report) == []


def test_a_build_arg_feeds_the_arg_defaults_below_it(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("ARG V=latest\nARG B=python:${V}\nFROM ${B}\n" + TAIL)
    (tmp_path / ".dockerignore").write_text(".git\n")
    no_hadolint = ("lint.hadolint", "false")
    assert ours(lint(tmp_path, no_hadolint)) == [("ML001", 3)]
    assert ours(lint(tmp_path, no_hadolint, ("image.build_args", "V=3.11-slim"))) == []


def test_dockerignore_is_looked_up_where_docker_reads_it(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM python:3.11-slim\n" + TAIL)
    (tmp_path / "docker" / ".dockerignore").write_text(".git\n")
    (tmp_path / "pipeline.yaml").write_text("project:\n  dockerfile: docker/Dockerfile\n")
    report = lint(tmp_path, ("lint.hadolint", "false"), dockerfile="docker/Dockerfile")
    assert ours(report) == [("ML011", None)]
    assert "beside it is not read" in report.findings[0].message

    (tmp_path / "docker" / "Dockerfile.dockerignore").write_text(".git\n")
    report = lint(tmp_path, ("lint.hadolint", "false"), dockerfile="docker/Dockerfile")
    assert (ours(report), report.dockerignore) == ([], "docker/Dockerfile.dockerignore")


# --- hadolint: merged, deduplicated, optional ----------------------------------------------


def test_hadolint_findings_are_merged_with_their_ids_and_levels() -> None:
    report = lint(DATA / "hadolint")
    [finding] = report.findings
    assert (finding.id, finding.line, finding.severity, finding.source) == (
        "DL3000",
        4,
        Severity.ERROR,
        "hadolint",
    )
    assert finding.fix == "see https://github.com/hadolint/hadolint/wiki/DL3000"


def test_same_problem_from_hadolint_is_folded_into_ours() -> None:
    report = lint(DATA / "ML004")
    pip = next(f for f in report.findings if (f.id, f.line) == ("ML004", 5))
    assert pip.same_as == ("DL3042",)
    assert not [f for f in report.findings if f.id == "DL3042"]


def test_missing_hadolint_is_reported_not_fatal(tmp_path: Path) -> None:
    config = load_config(DATA / "hadolint")
    report = lint_dockerfile(
        read_context(DATA / "hadolint" / "Dockerfile", DATA / "hadolint"),
        config,
        hadolint=Hadolint(binary=None),
    )
    assert report.hadolint.state == "missing"
    assert report.findings == ()
    assert "hadolint not run" in report.hadolint.text()


def test_a_hadolint_that_fails_is_reported_not_fatal(tmp_path: Path) -> None:
    broken = tmp_path / "hadolint"
    broken.write_text("#!/bin/sh\necho 'hadolint: cannot start' >&2\nexit 3\n")
    broken.chmod(0o755)
    config = load_config(DATA / "hadolint")
    build = read_context(DATA / "hadolint" / "Dockerfile", DATA / "hadolint")
    report = lint_dockerfile(build, config, hadolint=Hadolint(broken))
    assert (report.hadolint.state, report.hadolint.detail) == ("failed", "hadolint: cannot start")


def test_hadolint_can_be_switched_off() -> None:
    report = lint(DATA / "hadolint", ("lint.hadolint", "false"))
    assert (report.hadolint.state, report.findings) == ("disabled", ())


def test_inline_pragmas_skip_only_the_named_rules_on_the_next_instruction() -> None:
    report = lint(DATA / "pragma")
    # ML004, ML009 and DL3025 are skipped; DL3042 is not named, so hadolint's finding shows.
    assert [(f.id, f.line) for f in report.findings] == [("DL3042", 8)]


# --- the templates shipped with pipeline ----------------------------------------------------


def test_templates_and_examples_are_found() -> None:
    found = {path.parent.relative_to(ROOT).as_posix() for path in TEMPLATES}
    assert not EXPECTED_TEMPLATES - found, f"missing: {sorted(EXPECTED_TEMPLATES - found)}"


@pytest.mark.parametrize(
    "dockerfile", TEMPLATES, ids=[p.parent.relative_to(ROOT).as_posix() for p in TEMPLATES]
)
def test_template_has_no_errors_or_warnings(dockerfile: Path, tmp_path: Path) -> None:
    if dockerfile.parent.parent.name == "dockerfiles":
        # A template is used by copying it into a model project with the shared .dockerignore.
        project = shutil.copytree(dockerfile.parent, tmp_path / "project")
        if not (project / ".dockerignore").exists():
            shutil.copy(SHARED_DOCKERIGNORE, project / ".dockerignore")
    else:
        project = dockerfile.parent
    report = lint(project)
    assert report.hadolint.state == "ran"
    assert [f.text() for f in report.findings if f.severity >= Severity.WARNING] == []


# --- the pieces: parser, shell words ---------------------------------------------------------


def test_parser_keeps_line_numbers_through_continuations_comments_and_heredocs() -> None:
    dockerfile = parse(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=python:3.11-slim\n"
        "FROM ${BASE} AS build\n"
        "RUN echo one \\\n"
        "# a comment inside the instruction\n"
        "\n"
        "    two\n"
        "RUN <<EOF\n"
        "FROM not-an-instruction\n"
        "EOF\n"
        "COPY <<-CONF /etc/app.conf\n"
        "\tkey=value\n"
        "\tCONF\n"
        "from build\n"
    )
    assert [(i.keyword, i.line) for i in dockerfile.instructions] == [
        ("ARG", 2),
        ("FROM", 3),
        ("RUN", 4),
        ("RUN", 8),
        ("COPY", 11),
        ("FROM", 14),
    ]
    assert dockerfile.instructions[2].value == "echo one     two"
    assert dockerfile.instructions[3].heredocs == ("FROM not-an-instruction",)
    assert dockerfile.instructions[4].heredocs == ("key=value",)
    assert [(s.name, s.image, s.parent) for s in dockerfile.stages] == [
        ("build", "python:3.11-slim", None),
        (None, "build", 0),
    ]


def test_parser_honours_the_escape_directive() -> None:
    dockerfile = parse("# escape=`\nFROM windows/servercore:ltsc2022\nRUN dir `\n    C:\\\n")
    assert [(i.keyword, i.line, i.value) for i in dockerfile.instructions][1] == (
        "RUN",
        3,
        "dir     C:\\",
    )


def test_shell_commands_see_through_quotes_redirections_and_prefixes() -> None:
    script = (
        "set -e; DEBIAN_FRONTEND=noninteractive sudo -E apt-get install -y 'a b' 2>&1 "
        '> /dev/null && if true; then python3 -m pip install x # pip install y\nfi | tee "l"'
    )
    found = [(c.argv, c.env) for c in commands(script)]
    assert found == [
        (("set", "-e"), {}),
        (("apt-get", "install", "-y", "a b"), {"DEBIAN_FRONTEND": "noninteractive"}),
        (("true",), {}),
        (("python3", "-m", "pip", "install", "x"), {}),
        (("fi",), {}),
        (("tee", "l"), {}),
    ]


# --- the command line ---------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["lint", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_clean_project_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "-C", str(DATA / "good"))
    assert code == 0
    assert out == "Dockerfile: 0 errors, 0 warnings, 0 info; passes; hadolint ran\n"


def test_cli_error_finding_exits_2_with_one_line_per_finding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "-C", str(DATA / "ML004"))
    assert code == 2
    assert re.search(
        r"^Dockerfile:5 ML004 error +pip install without --no-cache-dir \(also DL3042\)"
        r" — fix: add --no-cache-dir",
        out,
        re.MULTILINE,
    )
    assert out.splitlines()[-1].startswith("Dockerfile: 3 errors, 0 warnings, 3 info;")
    assert "at or above error" in err


def test_cli_an_instruction_typo_fails_lint_with_the_instruction_meant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(capsys, "-C", str(DATA / "ML017"))
    assert code == 2
    assert re.search(
        r"^Dockerfile:4 ML017 error +unknown instruction RUNN: the build fails here \(also DL1000\)"
        r" — fix: write RUN$",
        out,
        re.MULTILINE,
    )
    code, out, _ = run_cli(capsys, "-C", str(DATA / "ML017"), "--no-hadolint")
    assert (code, "Dockerfile:4 ML017 error" in out) == (2, True)


def test_cli_missing_dockerfile_exits_1_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "-C", str(tmp_path))
    assert code == 1
    assert str(tmp_path / "Dockerfile") in err
    code, _, err = run_cli(capsys, "-C", str(tmp_path), str(tmp_path / "nope.Dockerfile"))
    assert (code, str(tmp_path / "nope.Dockerfile") in err) == (1, True)


def test_cli_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "-C", str(DATA / "ML002"), "--json")
    payload = json.loads(out)
    assert code == 0
    assert set(payload) == {"findings", "counts", "fail_on", "failed", "files"}
    assert payload["counts"] == {"error": 0, "warning": 1, "info": 2}
    assert (payload["fail_on"], payload["failed"]) == ("error", False)
    assert payload["files"] == [
        {
            "dockerfile": "Dockerfile",
            "context": ".",
            "dockerignore": ".dockerignore",
            "hadolint": {"state": "ran", "detail": ""},
            "counts": {"error": 0, "warning": 1, "info": 2},
        }
    ]
    root = next(f for f in payload["findings"] if f["id"] == "ML002")
    assert root == {
        "id": "ML002",
        "severity": "warning",
        "file": "Dockerfile",
        "line": 7,
        "message": "the final stage runs as USER root",
        "fix": root["fix"],
        "source": "pipeline",
        "same_as": ["DL3002"],
    }
    assert {f["source"] for f in payload["findings"]} == {"pipeline", "hadolint"}


def test_cli_ignore_flag_adds_to_lint_ignore(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "-C", str(DATA / "ML004"), "--ignore", "ml004", "--json")
    ids = {f["id"] for f in json.loads(out)["findings"]}
    # Nothing at error level is left; hadolint's DL3042 (a warning) is no longer folded in.
    assert (code, "ML004" in ids, "DL3042" in ids) == (0, False, True)
    code, out, _ = run_cli(
        capsys, "-C", str(DATA / "ML004"), "--set", "lint.ignore=DL3042", "--ignore", "ML004"
    )
    assert (code, "ML004" in out, "DL3042" in out) == (0, False, False)


def test_cli_fail_on_warning_and_no_hadolint(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "-C", str(DATA / "ML003"))[0] == 0
    code, out, _ = run_cli(capsys, "-C", str(DATA / "ML003"), "--fail-on", "warning", "--json")
    assert (code, json.loads(out)["failed"]) == (2, True)
    code, out, _ = run_cli(capsys, "-C", str(DATA / "hadolint"), "--no-hadolint", "--json")
    assert (code, json.loads(out)["files"][0]["hadolint"]["state"]) == (0, "disabled")


def test_cli_lints_the_given_paths_in_their_own_directories(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    paths = [str(DATA / "good"), str(DATA / "ML010" / "Dockerfile")]
    code, out, _ = run_cli(capsys, "-C", str(tmp_path), *paths, "--json")
    payload = json.loads(out)
    assert code == 0
    assert [f["dockerfile"] for f in payload["files"]] == [
        str(DATA / "good" / "Dockerfile"),
        str(DATA / "ML010" / "Dockerfile"),
    ]
    assert [(f["id"], f["line"]) for f in payload["findings"]] == [("ML010", 6)]


def test_cli_warns_about_an_unknown_rule_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "-C", str(DATA / "good"), "--ignore", "ML999")
    assert code == 0
    assert "ML999 is not a rule" in err


# --- the torch rules and the templates they must not fire on ---------------------------------

TORCH_RULES = {"ML014", "ML015", "ML016"}


def template_project(tmp_path: Path, template: str, base: str, app: str) -> Path:
    """A template as `init` copies it, with requirement files the way `split` writes them."""
    project = shutil.copytree(ROOT / "dockerfiles" / template, tmp_path / template)
    shutil.copy(SHARED_DOCKERIGNORE, project / ".dockerignore")
    (project / "requirements-base.txt").write_text(base)
    (project / "requirements-app.txt").write_text(app)
    return project


@pytest.mark.parametrize(
    ("template", "base"),
    [
        # The base's torch, seen through the venv's --system-site-packages: kept, not reinstalled.
        ("pytorch-gpu", "torch==2.5.1\ntransformers==5.24.0\n"),
        ("pytorch-gpu", "transformers==5.24.0\n"),
        # torch and its CUDA wheels from PyPI on python:3.11-slim, as examples/sentiment.
        ("pytorch-pypi", "torch==2.15.0\ntransformers==5.24.0\n"),
    ],
)
def test_torch_rules_pass_the_torch_templates(tmp_path: Path, template: str, base: str) -> None:
    project = template_project(tmp_path, template, base, "fastapi==0.165.0\n")
    assert {f.id for f in lint(project).findings} & TORCH_RULES == set()


def test_torch_on_the_cuda_template_is_cuda_twice(tmp_path: Path) -> None:
    # The cuda template is for frameworks that use the system CUDA; torch brings its own.
    # torch 2.15.0 from PyPI is a CUDA 13.2 build: newer than the template's CUDA 12.4 too.
    project = template_project(tmp_path, "cuda", "torch==2.15.0\n", "fastapi==0.165.0\n")
    twice, newer = [f for f in lint(project).findings if f.id in TORCH_RULES]
    assert (twice.id, newer.id) == ("ML015", "ML016")
    assert "3.2 GB of nvidia-* and cuda-* wheels installed" in twice.message
    assert "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 ships" in twice.message
    assert "torch needs a driver for CUDA 13.2 (driver >= 595.45.04)" in newer.message


def test_a_kept_cache_says_what_it_weighs_where_measured(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11.9-slim\nRUN pip install torch==2.15.0\nRUN pip install torch==2.3.0\n"
    )
    messages = [f.message for f in lint(tmp_path).findings if f.id == "ML004"]
    assert messages == [
        "pip install without --no-cache-dir; it keeps every wheel downloaded: 3.0 GB for torch "
        "2.15.0 and its CUDA wheels alone",
        "pip install without --no-cache-dir",
    ]
