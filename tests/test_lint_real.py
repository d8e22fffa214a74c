"""`pipeline lint` on real public Dockerfiles, one per defect it used to have.

Each directory in data/lint/real/ holds a Dockerfile copied verbatim from a public repository
and a README.md naming the repository, path and commit. The real hadolint binary runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.config.schema import load_config
from pipeline.lint import Report, Severity, lint_dockerfile
from pipeline.project.buildcontext import read_context

REAL = Path(__file__).resolve().parent / "data" / "lint" / "real"


def lint(name: str) -> Report:
    project = REAL / name
    config = load_config(project)
    report = lint_dockerfile(read_context(project / "Dockerfile", project), config)
    assert report.hadolint.state == "ran"
    return report


def at(report: Report, line: int) -> list[tuple[str, str]]:
    return [(f.id, f.message) for f in report.findings if f.line == line]


@pytest.mark.parametrize(
    ("name", "rule", "line", "expected"),
    [
        # ARG agent_version=latest / ARG base_image=${base_image_name}:${agent_version} / FROM
        (
            "newrelic-infrastructure-bundle",
            "ML001",
            6,
            "base image newrelic/infrastructure:latest uses the moving tag latest",
        ),
        # ARG UID=0 above the first FROM, ARG UID in the stage, USER $UID:$GID
        (
            "open-webui",
            "ML002",
            167,
            "the final stage runs as USER $UID:$GID (0:0 with the ARG/ENV defaults)",
        ),
    ],
    ids=["nested-arg-defaults", "user-from-arg"],
)
def test_arg_defaults_are_resolved_as_buildkit_does(
    name: str, rule: str, line: int, expected: str
) -> None:
    [found] = [text for rule_id, text in at(lint(name), line) if rule_id == rule]
    assert found == expected


def test_latest_dash_tags_are_moving_tags() -> None:
    report = lint("design-challenge")
    assert (
        "ML001",
        "base image tensorflow/tensorflow:latest-gpu uses the moving tag latest-gpu",
    ) in at(report, 1)
    assert report.failing(Severity.ERROR)


def test_a_stage_named_with_targetarch_is_not_an_image() -> None:
    report = lint("phygrid-cuda-base")
    # FROM base-${TARGETARCH} AS base: neither ours nor hadolint's "tag the image" on it
    assert [rule for rule, _ in at(report, 11)] == ["ML008"]
    assert not report.failing(Severity.ERROR)


def test_tool_installs_are_not_the_dependency_install() -> None:
    report = lint("yagupov-fastapi")
    # pip install --upgrade pip (7), pip install poetry (9), COPY . /code (11), poetry install
    assert [(f.id, f.line) for f in report.findings if f.id == "ML005"] == [("ML005", 11)]
    assert "before the dependency install at line 13" in at(report, 11)[0][1]


def test_uv_takes_no_cache_dir_and_a_pip_tool_install_still_caches() -> None:
    ml004 = [(f.line, f.message) for f in lint("open-webui").findings if f.id == "ML004"]
    # `pip3 install uv && ... uv pip install --system -r requirements.txt --no-cache-dir`
    assert ml004 == [(135, "pip install without --no-cache-dir")]


def test_a_run_that_empties_the_pip_cache_keeps_none() -> None:
    ml004 = [f.line for f in lint("pycon2016").findings if f.id == "ML004"]
    # 89: RUN pip install notebook; 93: ... && rm -rf /root/.cache/pip/*
    assert ml004 == [89]


def test_a_repeated_mistake_is_one_finding_merged_with_hadolints() -> None:
    report = lint("docker-cuda-win64")
    texts = Counter(f.text() for f in report.findings)
    assert [text for text, count in texts.items() if count > 1] == []
    # apt-get install + apt install in one RUN; two pip installs in another
    assert [(f.id, f.line, f.same_as) for f in report.findings if f.id in ("ML007", "ML004")] == [
        ("ML007", 5, ("DL3015",)),
        ("ML004", 15, ("DL3042",)),
    ]
    assert len(report.failing(Severity.ERROR)) == 1


def test_hadolints_parse_error_on_valid_syntax_warns_without_failing() -> None:
    report = lint("back-bot")  # EXPOSE ${PORT:-10000}
    [parse_error] = [f for f in report.findings if f.id == "DL1000"]
    assert (parse_error.line, parse_error.severity) == (5, Severity.WARNING)
    assert parse_error.message.startswith("hadolint could not parse this line")
    assert not report.failing(Severity.ERROR)


def test_a_pin_the_base_torch_misses_reinstalls_it() -> None:
    report = lint("animegan")
    # ML013 also fires on the line: torch and pytest in one requirements file.
    assert [(rule, text) for rule, text in at(report, 4) if rule == "ML014"] == [
        (
            "ML014",
            "torch==1.10.1 (requirements.txt:1) installs torch again over the 1.10.0 that "
            "pytorch/pytorch:1.10.0-cuda11.3-cudnn8-runtime ships (1.10.0 does not satisfy "
            "==1.10.1): the image keeps both copies",
        )
    ]


def test_a_pin_the_base_torch_meets_keeps_it() -> None:
    report = lint("ucr-cs255-lab4")
    assert not {f.id for f in report.findings} & {"ML014", "ML015", "ML016"}


def test_torch_cuda_wheels_on_an_nvidia_cuda_runtime_image() -> None:
    found = dict(at(lint("khlam-docker-pytorch"), 5))
    assert found["ML015"].startswith(
        "torch==2.0.0+cu117 (line 5) brings torch's own CUDA libraries on top of the CUDA 12.2 "
        "that nvidia/cuda:12.2.0-runtime-ubuntu20.04 ships"
    )
    assert found["ML016"] == (
        "torch==2.0.0+cu117 (line 5) is a CUDA 11.7 build on nvidia/cuda:12.2.0-runtime-ubuntu20.04"
        " (CUDA 12.2): torch loads its own CUDA 11.7 libraries and the base's CUDA 12.2 ones are "
        "never used"
    )
