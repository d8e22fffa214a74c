"""build.cache_mode: which registry cache export a Dockerfile gets, decided once from the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.imagebuild.cachemode import CacheMode, decide_cache_mode

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = sorted(
    [
        *(REPO_ROOT / "dockerfiles").glob("*/Dockerfile"),
        *(REPO_ROOT / "examples").glob("*/Dockerfile"),
    ]
)

# A builder that installs system packages, then reads the requirements: with `mode=min` a
# change to them would run apt again, so its steps are worth exporting apart.
APT_THEN_PIP = """\
FROM python:3.11-slim AS builder
RUN apt-get update && apt-get install -y --no-install-recommends gcc
COPY requirements.txt /tmp/
RUN pip install --prefix /install -r /tmp/requirements.txt
FROM python:3.11-slim
COPY --link --from=builder /install /usr/local
COPY --link app/ /app/
"""


def mode(
    tmp_path: Path, text: str, configured: str = "auto", target: str | None = None
) -> CacheMode:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(text)
    return decide_cache_mode(configured, dockerfile, target, {})


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_the_templates_export_the_image_layers_alone(dockerfile: Path) -> None:
    decided = decide_cache_mode("auto", dockerfile, "runtime", {})
    if dockerfile.parent.name == "llm":
        # `download` copies model/ after the Hub download: an edit to model/ keeps the download.
        assert decided.mode == "max"
        assert "stage download reads the build context at line" in decided.reason
    else:
        assert decided == CacheMode(
            "min", "auto: no stage outside the image reads the build context after a RUN"
        )


def test_a_builder_reading_the_context_after_a_run_exports_every_stage(tmp_path: Path) -> None:
    assert mode(tmp_path, APT_THEN_PIP) == CacheMode(
        "max", "auto: stage builder reads the build context at line 3 after the RUN at line 2"
    )
    # The RUN before the read is the image's own (its stage is in the image): exported anyway.
    shared = (
        APT_THEN_PIP.replace("AS builder", "AS base")
        .replace("COPY requirements.txt", "FROM base AS builder\nCOPY requirements.txt")
        .replace("FROM python:3.11-slim\nCOPY --link --from", "FROM base\nCOPY --link --from")
    )
    assert mode(tmp_path, shared).mode == "min"
    # A bind mount of the context reads it too.
    mounted = APT_THEN_PIP.replace(
        "COPY requirements.txt /tmp/\nRUN pip",
        "RUN --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt pip",
    )
    assert mode(tmp_path, mounted).mode == "max"


def test_a_stage_the_target_does_not_need_does_not_count(tmp_path: Path) -> None:
    assert mode(tmp_path, APT_THEN_PIP + "FROM python:3.11-slim AS slim\n", target="slim") == (
        CacheMode("min", "auto: no stage outside the image reads the build context after a RUN")
    )


@pytest.mark.parametrize("configured", ["min", "max"])
def test_a_configured_mode_is_taken_as_it_is(tmp_path: Path, configured: str) -> None:
    assert mode(tmp_path, APT_THEN_PIP, configured) == CacheMode(
        configured, f"build.cache_mode: {configured}"
    )
