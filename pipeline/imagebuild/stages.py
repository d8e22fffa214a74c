"""Which stages a build needs, in order, and the base image the final one stands on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UserError
from pipeline.project.dockerfile import Dockerfile, Instruction, Stage, parse_file


@dataclass(frozen=True)
class BuildGraph:
    # Named stages the target needs, oldest first, ending with the target; None stands for an
    # unnamed final stage, which can only be built without --target.
    stages: list[str | None]
    final_base: str | None
    # Stages the target takes files from (COPY --from, RUN --mount=from=) without being built
    # FROM them, named as BuildKit's progress names them (`stage-N` when unnamed).
    copied: frozenset[str] = frozenset()
    # Every stage the target needs, in Dockerfile order, as BuildKit's progress names it.
    progress_names: tuple[str, ...] = ()


def source_stages(dockerfile: Dockerfile, instruction: Instruction) -> list[Stage]:
    """The stages an instruction reads files from: `COPY --from=X`, and
    `RUN --mount=...,from=X,...` (a builder's wheels installed through a bind mount); an image
    named there is no stage."""
    names: list[str] = []
    if instruction.keyword == "COPY":
        names = instruction.flag_values("from")
    elif instruction.keyword == "RUN":
        options = [part for mount in instruction.flag_values("mount") for part in mount.split(",")]
        names = [option.partition("=")[2] for option in options if option.startswith("from=")]
    found: list[Stage] = []
    for name in names:
        stage = dockerfile.stage(name)
        if stage is None and name.isdigit() and int(name) < len(dockerfile.stages):
            stage = dockerfile.stages[int(name)]
        if stage is not None:
            found.append(stage)
    return found


def needed_stages(dockerfile: Dockerfile, stage: Stage) -> set[int]:
    """Indexes of the stages `stage` needs: its FROM parent and every stage it reads from."""
    needed: set[int] = set()
    pending = [stage]
    while pending:
        current = pending.pop()
        sources = [current.parent] if current.parent is not None else []
        for instruction in current.instructions:
            sources += [found.index for found in source_stages(dockerfile, instruction)]
        for index in sources:
            if index not in needed:
                needed.add(index)
                pending.append(dockerfile.stages[index])
    return needed


def read_graph(path: Path, target: str | None, build_args: Mapping[str, str]) -> BuildGraph:
    dockerfile = parse_file(path, build_args)
    if not dockerfile.stages:
        raise UserError(f"{path}: no FROM instruction; is this a Dockerfile?")
    if target:
        final = dockerfile.stage(target)
        if final is None:
            names = ", ".join(s.name for s in dockerfile.stages if s.name) or "none"
            raise UserError(f"image.target: {path} has no stage {target!r} (stages: {names})")
    else:
        final = dockerfile.stages[-1]
    needed = sorted(needed_stages(dockerfile, final))
    stages: list[str | None] = [
        dockerfile.stages[i].name for i in needed if dockerfile.stages[i].name
    ]
    stages.append(final.name)
    lineage = dockerfile.lineage(final)
    inherited = {stage.index for stage in lineage}
    copied = frozenset(_progress_name(dockerfile.stages[i]) for i in needed if i not in inherited)
    base = lineage[0]
    return BuildGraph(
        stages=stages,
        final_base=None if base.unresolved else base.image,
        copied=copied,
        progress_names=tuple(_progress_name(dockerfile.stages[i]) for i in [*needed, final.index]),
    )


def _progress_name(stage: Stage) -> str:
    return stage.name or f"stage-{stage.index}"
