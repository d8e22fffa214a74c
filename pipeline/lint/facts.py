"""What the rules ask of a Dockerfile: environments, copies, cache mounts, apt installs; what
pip and its kin install is `pipeline.project.installs`.

These are observations, not judgments; `rules.py` decides what is a mistake.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from pathlib import Path

from pipeline.project.dockerfile import (
    Dockerfile,
    Instruction,
    Stage,
    arg_declarations,
    env_assignments,
    expand,
)
from pipeline.project.installs import run_commands
from pipeline.project.shell import Command

# Files that declare dependencies; copying them before the install is the point.
_MANIFESTS = (
    "*requirements*",
    "constraints*.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "*.lock",
    "pipfile",
    "environment*.yml",
    "environment*.yaml",
    "conda*.yml",
    "conda*.yaml",
)


def environment(
    dockerfile: Dockerfile, stage: Stage, upto: Instruction | None = None, *, build: bool = False
) -> dict[str, str]:
    """ENV values in `stage`, inherited ones included, before `upto` (default: all of it).

    `build` adds ARG values: RUN commands see them, the running container does not. A bare
    `ARG UID` takes the value of the global `ARG UID=0` above the first FROM, as in BuildKit.
    """
    values: dict[str, str] = {}
    for ancestor in dockerfile.lineage(stage):
        for instruction in ancestor.instructions:
            if instruction is upto:
                return values
            if instruction.keyword == "ENV":
                values.update(env_assignments(instruction))
            elif instruction.keyword == "ARG" and build:
                for name, default in arg_declarations(instruction).items():
                    value = dockerfile.global_args.get(name) if default is None else default
                    if value is not None:
                        values[name] = value
    return values


def expanded_operands(dockerfile: Dockerfile, instruction: Instruction) -> str:
    """`instruction`'s operands with the ARG and ENV values it sees substituted."""
    for stage in dockerfile.stages:
        if any(candidate is instruction for candidate in stage.instructions):
            variables = environment(dockerfile, stage, upto=instruction, build=True)
            return expand(instruction.operands, variables)[0]
    return instruction.operands


def inherited(dockerfile: Dockerfile, stage: Stage, keyword: str) -> list[Instruction]:
    """Instructions of one kind that `stage` runs or inherits from the stages it is FROM."""
    return [
        instruction
        for ancestor in dockerfile.lineage(stage)
        for instruction in ancestor.instructions
        if instruction.keyword == keyword
    ]


def apt_installs(run: Instruction) -> list[Command]:
    return [
        command
        for command in run_commands(run)
        if command.program in ("apt-get", "apt") and command.arguments[:1] == ("install",)
    ]


def cache_mounts(run: Instruction) -> list[str]:
    """Targets of `RUN --mount=type=cache,target=...`."""
    targets = []
    for mount in run.flag_values("mount"):
        options = dict(part.partition("=")[::2] for part in mount.split(","))
        if options.get("type") == "cache":
            targets.append(
                options.get("target") or options.get("dst") or options.get("destination", "")
            )
    return targets


def context_sources(copy: Instruction) -> list[str]:
    """What a COPY/ADD takes from the build context (not other stages, URLs or heredocs)."""
    if copy.flag_values("from"):
        return []
    sources = copy.words()[:-1]
    return [s for s in sources if not s.startswith("<<") and not re.match(r"\w+://|git@", s)]


def is_app_code(source: str, context: Path) -> bool:
    """`.` or a directory, unless it only holds dependency declarations."""
    name = posixpath.basename(posixpath.normpath(source)).lower()
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in _MANIFESTS):
        return False
    return source in (".", "./") or source.endswith("/") or (context / source).is_dir()
