"""What the registry cache export holds, decided once from the Dockerfile (`build.cache_mode`).

`mode=min` exports the image's own layers, which the push uploads anyway: a cold build pushes
nothing more than plain buildx does. A stage the image only copies from (a builder) is still a
cache hit on the next runner, matched by its key without being run, as long as a change to its
inputs re-runs all of it. What `min` loses is a stage's steps apart: a builder that runs a step
(apt) before it reads the context (requirements) re-runs that step too when the files change.
Only there does `mode=max` (every stage's layers, compressed and pushed into the cache) pay
for its cost, so `auto` picks it there alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.imagebuild.patchable import context_reads
from pipeline.imagebuild.stages import needed_stages
from pipeline.project.dockerfile import Dockerfile, Stage, parse_file


@dataclass(frozen=True)
class CacheMode:
    mode: str  # buildx's cache export mode: min or max
    reason: str  # why, for the build's note and report


def decide_cache_mode(
    configured: str, dockerfile: Path, target: str | None, build_args: Mapping[str, str]
) -> CacheMode:
    """`configured` (build.cache_mode) when min or max; for auto, read from the Dockerfile."""
    if configured != "auto":
        return CacheMode(configured, f"build.cache_mode: {configured}")
    parsed = parse_file(dockerfile, build_args)
    final = parsed.stage(target) if target else (parsed.stages[-1] if parsed.stages else None)
    if final is None:
        return CacheMode("max", "auto: the target stage cannot be told")
    found = _partly_reusable(parsed, final)
    if found is None:
        return CacheMode(
            "min", "auto: no stage outside the image reads the build context after a RUN"
        )
    return CacheMode("max", f"auto: {found}")


def _partly_reusable(dockerfile: Dockerfile, final: Stage) -> str | None:
    """The first context read after a RUN that only a `mode=max` export keeps: in a stage the
    target needs outside the image's lineage, after a RUN of a stage outside it too (the
    image's own steps are exported either way)."""
    inherited = {stage.index for stage in dockerfile.lineage(final)}
    for index in sorted(needed_stages(dockerfile, final) - inherited):
        stage = dockerfile.stages[index]
        ran: str | None = None
        for ancestor in dockerfile.lineage(stage):
            for instruction in ancestor.instructions:
                reads = context_reads(instruction)
                if ran and (reads is None or reads):
                    name = stage.name or f"stage-{stage.index}"
                    return (
                        f"stage {name} reads the build context at line {instruction.line} "
                        f"after the RUN at line {ran}"
                    )
                if instruction.keyword == "RUN" and ancestor.index not in inherited:
                    ran = str(instruction.line)
    return None
