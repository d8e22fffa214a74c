"""The stage graph of a build: which stages it needs, in order, what it only copies from, and
the base image the final stage stands on. Real Dockerfiles, parsed by the real parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.imagebuild.stages import BuildGraph, read_graph

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "churn" / "Dockerfile"


def graph(tmp_path: Path, text: str, target: str | None = None, **args: str) -> BuildGraph:
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    return read_graph(path, target, args)


def test_a_single_unnamed_stage(tmp_path: Path) -> None:
    built = graph(tmp_path, "FROM python:3.11-slim\nCOPY app.py /app/\n")
    # An unnamed final stage cannot be a --target; BuildKit's progress calls it stage-0.
    assert built == BuildGraph(
        stages=[None], final_base="python:3.11-slim", progress_names=("stage-0",)
    )


def test_an_unnamed_final_stage_after_a_builder(tmp_path: Path) -> None:
    """BuildKit names it by index (`stage-1`), which is how the report orders its steps."""
    built = graph(
        tmp_path,
        "FROM python:3.11-slim AS builder\nRUN pip wheel -w /w numpy\n"
        "FROM python:3.11-slim\nCOPY --from=builder /w /w\n",
    )
    assert built.progress_names == ("builder", "stage-1")


def test_the_bundled_example(tmp_path: Path) -> None:
    built = read_graph(EXAMPLE, None, {})
    assert built.stages[-1] is not None and built.final_base is not None
    assert built.progress_names == tuple(built.stages)


def test_copy_from_a_builder_stage(tmp_path: Path) -> None:
    built = graph(
        tmp_path,
        "FROM python:3.11-slim AS builder\nRUN pip wheel -w /w numpy\n"
        "FROM python:3.11-slim AS runtime\nCOPY --from=builder /w /w\n",
    )
    assert built.stages == ["builder", "runtime"]
    assert built.final_base == "python:3.11-slim"
    assert built.copied == {"builder"}


def test_a_from_chain_inherits_its_root_image(tmp_path: Path) -> None:
    built = graph(
        tmp_path,
        "FROM python:3.11-slim AS base\nRUN true\n"
        "FROM base AS deps\nRUN pip install numpy\n"
        "FROM deps AS app\nCOPY app.py /app/\n",
    )
    assert built.stages == ["base", "deps", "app"]
    # The image the final stage stands on is the root of its lineage, not the stage it names.
    assert built.final_base == "python:3.11-slim"
    assert built.copied == frozenset()  # built FROM, so never only copied from


def test_stages_the_target_does_not_need_are_left_out(tmp_path: Path) -> None:
    text = (
        "FROM python:3.11-slim AS builder\nRUN true\n"
        "FROM builder AS test\nRUN pytest\n"
        "FROM debian:bookworm-slim AS docs\nRUN true\n"
        "FROM python:3.11-slim AS runtime\nCOPY --from=builder /w /w\n"
    )
    assert graph(tmp_path, text).stages == ["builder", "runtime"]
    # A target in the middle: the build stops there.
    test = graph(tmp_path, text, target="test")
    assert (test.stages, test.final_base, test.copied) == (
        ["builder", "test"],
        "python:3.11-slim",
        frozenset(),
    )


def test_stage_names_compare_without_case(tmp_path: Path) -> None:
    built = graph(
        tmp_path,
        "FROM python:3.11-slim AS Builder\nRUN true\n"
        "FROM python:3.11-slim\nCOPY --from=BUILDER /w /w\n",
        target=None,
    )
    assert built.stages == ["builder", None]
    assert built.copied == {"builder"}


def test_copy_from_an_unnamed_stage_by_index_and_from_an_image(tmp_path: Path) -> None:
    built = graph(
        tmp_path,
        "FROM python:3.11-slim\nRUN pip wheel -w /w numpy\n"
        "FROM python:3.11-slim AS runtime\n"
        "COPY --from=0 /w /w\n"
        "COPY --from=ghcr.io/astral-sh/uv:0.4 /uv /bin/uv\n",
    )
    # The unnamed stage cannot be a --target or a cache key; BuildKit calls it stage-0.
    assert built.stages == ["runtime"]
    assert built.copied == {"stage-0"}


def test_a_stage_a_run_mounts_from_is_needed(tmp_path: Path) -> None:
    # The wheels of a builder stage installed through a bind mount, never copied into a layer.
    built = graph(
        tmp_path,
        "FROM python:3.11-slim AS wheels\nRUN pip wheel -w /w numpy\n"
        "FROM python:3.11-slim AS runtime\n"
        "RUN --mount=type=bind,from=wheels,source=/w,target=/w pip install /w/*.whl\n",
    )
    assert built.stages == ["wheels", "runtime"]
    assert built.copied == {"wheels"}


def test_the_base_image_follows_build_args(tmp_path: Path) -> None:
    text = "ARG BASE=python:3.11-slim\nFROM ${BASE} AS app\nRUN true\n"
    assert graph(tmp_path, text).final_base == "python:3.11-slim"
    assert graph(tmp_path, text, BASE="python:3.12-slim").final_base == "python:3.12-slim"
    # An ARG with no value: no base image can be named (so none is looked up).
    assert graph(tmp_path, "ARG BASE\nFROM ${BASE}\nRUN true\n").final_base is None


def test_no_from_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no FROM instruction; is this a Dockerfile"):
        graph(tmp_path, "RUN true\n")


def test_an_unknown_target_names_the_stages(tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        graph(tmp_path, "FROM a AS builder\nRUN true\nFROM b AS runtime\n", target="app")
    assert str(raised.value).endswith("has no stage 'app' (stages: builder, runtime)")
