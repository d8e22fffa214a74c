"""BuildKit's progress as the build report reads it (`docker buildx build --progress rawjson`):
steps, cache hits, timings, output and errors, from real captured streams
(tests/data/build/README.md says how each was made) and from single statuses where a case
needs one that a real build does not reliably give."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from pipeline.imagebuild.steps import OUTPUT_LINES_KEPT, RawJsonProgress, Step, cache_hit_ratio

DATA = Path(__file__).resolve().parent / "data" / "build"
COPY_DIGEST, LINK_DIGEST = "sha256:" + "c" * 64, "sha256:" + "1" * 64


def read(name: str, single_stage_name: str = "stage-0") -> tuple[RawJsonProgress, list[str]]:
    """The progress of a captured stream, fed line by line as the build reads it, and the
    labels of the steps in the order they were announced."""
    started: list[str] = []
    progress = RawJsonProgress(single_stage_name, lambda step: started.append(step.label()))
    for line in (DATA / name).read_text(encoding="utf-8").splitlines(keepends=True):
        progress.feed_line(line)
    return progress, started


def by_number(progress: RawJsonProgress) -> dict[int, Step]:
    return {step.number: step for step in progress.steps}


def vertex(digest: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"vertexes": [{"digest": digest, "name": name, **fields}]}


def test_a_rebuild_with_copy_link_from_a_real_stream() -> None:
    # Dockerfile.copy-link rebuilt after model.txt changed: the app.txt copy and the RUN are
    # cache hits, the model.txt copy is not. Single stage: BuildKit names no stage.
    progress, started = read("rawjson-copy-link-rebuild.log", single_stage_name="app")
    steps = by_number(progress)
    assert sorted(steps) == [1, 2, 3, 4]
    assert {step.stage for step in steps.values()} == {"app"}
    assert steps[1].instruction.startswith("FROM docker.io/library/python:3.11-slim@sha256:")
    # Each `COPY --link` is two vertexes (the copy, its `LINK` merge): one step of the report.
    assert steps[2].instruction == "COPY --link app.txt /app.txt"
    assert steps[3].instruction == "RUN echo built > /built.txt && echo step-output"
    assert steps[4].instruction == "COPY --link model.txt /model.txt"
    assert [steps[n].cached for n in (2, 3, 4)] == [True, True, False]
    assert not steps[1].counts_for_cache  # pulled, never built
    assert cache_hit_ratio(progress.steps) == 2 / 3
    # BuildKit lists every vertex many times; each step is announced once, when it starts.
    assert sorted(started) == sorted(step.label() for step in progress.steps)
    assert steps[4].seconds > 0
    assert (progress.errors, list(progress.tail)) == ([], [])


def test_a_first_build_from_a_real_stream() -> None:
    progress, _ = read("rawjson-copy-link-build.log")
    steps = by_number(progress)
    assert [step.cached for step in progress.steps] == [False] * 4
    assert cache_hit_ratio(progress.steps) == 0.0
    # A step's output comes base64-encoded in `logs`; the step that printed it keeps it.
    assert list(steps[3].output) == ["step-output"]
    assert [list(steps[n].output) for n in (1, 2, 4)] == [[], [], []]
    assert steps[3].seconds > 0
    assert steps[3].label() == "[stage-0 3/4] RUN echo built > /built.txt && echo step-output"


def test_a_copy_link_step_is_cached_only_when_both_vertexes_are() -> None:
    progress = RawJsonProgress("stage-0")
    progress.feed(vertex(COPY_DIGEST, "[app 2/2] COPY --link a /a"))
    progress.feed(vertex(LINK_DIGEST, "[app 2/2] LINK COPY --link a /a"))
    progress.feed(vertex(COPY_DIGEST, "[app 2/2] COPY --link a /a", cached=True))
    (step,) = progress.steps
    assert step.instruction == "COPY --link a /a" and not step.cached
    progress.feed(vertex(LINK_DIGEST, "[app 2/2] LINK COPY --link a /a", cached=True))
    assert step.cached


def test_a_step_takes_the_time_of_all_its_vertexes() -> None:
    progress = RawJsonProgress("stage-0")
    # RFC 3339 with nanoseconds, as BuildKit writes it, and without a fraction at all.
    progress.feed(
        vertex(
            COPY_DIGEST,
            "[app 2/2] COPY --link a /a",
            started="2026-12-01T08:27:17.000000001Z",
            completed="2026-12-01T08:27:18.500000999Z",
        )
    )
    progress.feed(
        vertex(
            LINK_DIGEST,
            "[app 2/2] LINK COPY --link a /a",
            started="2026-12-01T08:27:19Z",
            completed="2026-12-01T08:27:19.250Z",
        )
    )
    (step,) = progress.steps
    assert round(step.seconds, 6) == 1.75


def test_errors_of_steps_and_of_other_vertexes_name_where() -> None:
    progress = RawJsonProgress("stage-0")
    missing = "failed to read dockerfile: open Dockerfile: no such file or directory"
    progress.feed(
        vertex(
            "sha256:" + "d" * 64, "[internal] load build definition from Dockerfile", error=missing
        )
    )
    progress.feed(vertex(COPY_DIGEST, "[2/2] RUN exit 3", error="exit code: 3"))
    assert progress.errors == [
        "[internal] load build definition from Dockerfile: failed to read dockerfile: "
        "open Dockerfile: no such file or directory",
        "[stage-0 2/2] RUN exit 3: exit code: 3",
    ]


def test_lines_that_are_not_json_and_a_broken_object_go_to_the_tail() -> None:
    progress = RawJsonProgress("stage-0")
    for line in [
        '#0 building with "default" instance using docker driver\n',
        "\n",
        "{\n",
        '  "vertexes": [\n',
        "}\n",
        *json.dumps(vertex(COPY_DIGEST, "[1/1] FROM scratch"), indent=2).splitlines(True),
        "\n",
        "ERROR: failed to solve: exit code: 3\n",
    ]:
        progress.feed_line(line)
    assert list(progress.tail) == [
        '#0 building with "default" instance using docker driver',
        "{",
        '  "vertexes": [',
        "}",
        "ERROR: failed to solve: exit code: 3",
    ]
    # The object after the broken one is read as usual.
    assert [step.label() for step in progress.steps] == ["[stage-0 1/1] FROM scratch"]


def test_a_step_keeps_the_last_lines_of_its_output() -> None:
    progress = RawJsonProgress("stage-0")
    progress.feed(vertex(COPY_DIGEST, "[1/1] RUN pip install torch"))
    text = "".join(f"line {n}\n\n" for n in range(OUTPUT_LINES_KEPT + 5)).encode()
    data = base64.b64encode(text).decode()
    progress.feed({"logs": [{"vertex": COPY_DIGEST, "data": data}, {"vertex": "x", "data": data}]})
    (step,) = progress.steps
    assert list(step.output) == [f"line {n}" for n in range(5, OUTPUT_LINES_KEPT + 5)]


def test_no_step_the_cache_could_save_gives_no_ratio() -> None:
    assert cache_hit_ratio([Step("app", 1, 1, "FROM python:3.11-slim")]) is None
    assert cache_hit_ratio([]) is None


def test_step_numbers_padded_to_the_width_of_the_total_from_a_real_stream() -> None:
    # BuildKit pads the step number in a stage of ten steps or more (`%*d/%d`, the width of the
    # total): `[builder  2/11]`. Dockerfile.padded-steps: 11 steps, then an unnamed stage of 10.
    progress, _ = read("rawjson-padded-steps.log")
    labels = {step.label() for step in progress.steps}
    assert "[builder 2/11] RUN echo 1 > /1" in labels
    assert "[builder 11/11] RUN echo 10 > /10" in labels
    assert "[stage-1 2/10] COPY --from=builder /1 /1" in labels
    # Both stages stand on the same image: BuildKit runs (and names) that FROM once.
    numbers = sorted((step.stage, step.number) for step in progress.steps)
    assert numbers == [("builder", n) for n in range(2, 12)] + [
        ("stage-1", n) for n in range(1, 11)
    ]
    assert cache_hit_ratio(progress.steps) == 0.0


def test_a_padded_step_number_without_a_stage_name() -> None:
    # A single-stage Dockerfile of ten steps or more: `[ 3/12] ...`, no stage name at all.
    progress = RawJsonProgress("app")
    progress.feed(vertex(COPY_DIGEST, "[ 3/12] RUN pip install torch", cached=True))
    (step,) = progress.steps
    assert (step.label(), step.cached) == ("[app 3/12] RUN pip install torch", True)


def test_a_status_on_one_line_does_not_hold_back_the_lines_after_it() -> None:
    progress = RawJsonProgress("stage-0")
    progress.feed_line(json.dumps({"vertexes": []}) + "\n")
    progress.feed_line("ERROR: failed to solve: exit 3\n")
    assert list(progress.tail) == ["ERROR: failed to solve: exit 3"]
