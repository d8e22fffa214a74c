"""Which COPY instructions of a Dockerfile a registry-side patch may redo, read from the file.

A COPY from the build context into the final image's lineage (its FROM chain of stages) makes a
layer that depends on nothing but its sources and its own flags when no RUN comes after it in
that lineage: no later step could have read what it copied. Everything else a build reads is
"fixed" input, and `pipeline.imagebuild.fingerprint` proves it unchanged.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.project.dockerfile import Dockerfile, Instruction, Stage, parse_file

# Flags whose effect the layer emulation reproduces; any other flag makes a COPY unpatchable.
PATCH_FLAGS = frozenset({"link", "chown", "chmod"})
_GLOB = re.compile(r"[*?\[\\$]")


class Unpatchable(Exception):
    """What a patch cannot prove equal to a full build; the message is the fallback's reason."""


@dataclass(frozen=True)
class CopySpec:
    """One patchable COPY: context-relative sources, an absolute destination in the image."""

    line: int  # the instruction's line in the Dockerfile: its key in the image's labels
    instruction: Instruction
    sources: tuple[str, ...]
    destination: str
    link: bool
    chown: str | None
    chmod: str | None

    @property
    def created_by(self) -> str:
        """The history entry BuildKit writes for it: --chown and --chmod kept, --link not."""
        named = (("chown", self.chown), ("chmod", self.chmod))
        flags = [f"--{name}={value}" for name, value in named if value]
        return " ".join(["COPY", *flags, *self.instruction.words()]) + " # buildkit"

    @property
    def into_directory(self) -> bool:
        """BuildKit puts each source inside the destination, not at it."""
        return self.destination.endswith("/") or len(self.sources) > 1


@dataclass(frozen=True)
class PatchPlan:
    copies: tuple[CopySpec, ...]
    # Context paths other instructions may read (prefixes; "" is the whole context).
    read_elsewhere: tuple[str, ...]
    bases: tuple[str, ...] = ()  # every image a stage is FROM, whose digest the proof holds


def read_plan(dockerfile: Path, target: str | None, build_args: dict[str, str]) -> PatchPlan:
    parsed = parse_file(dockerfile, build_args)
    final = parsed.stage(target) if target else parsed.stages[-1]
    bases = tuple(
        dict.fromkeys(
            stage.image
            for stage in parsed.stages
            if stage.parent is None and not stage.unresolved and stage.image != "scratch"
        )
    )
    if final is None:
        return PatchPlan((), ("",), bases)
    copies = _trailing_copies(parsed.lineage(final), _read_stages(parsed))
    patchable = {copy.instruction for copy in copies}
    return PatchPlan(copies, tuple(_read_by_others(parsed, patchable)), bases)


def _trailing_copies(lineage: list[Stage], read: set[int]) -> tuple[CopySpec, ...]:
    """The context COPYs after the last RUN of the lineage, with the WORKDIR each sees. A stage
    another one reads (`COPY --from`, a mount) passes what it holds on: like a RUN, it ends
    what a COPY before it may patch."""
    workdir = "/"
    found: list[CopySpec] = []
    for stage in lineage:
        for instruction in stage.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = posixpath.join(workdir, instruction.operands.strip())
            elif instruction.keyword == "RUN":
                found = []
            elif instruction.keyword == "COPY":
                spec = _copy_spec(instruction, workdir)
                if spec is not None:
                    found.append(spec)
        if stage.index in read:
            found = []
    return tuple(found)


def _read_stages(dockerfile: Dockerfile) -> set[int]:
    """The stages whose files other stages read, with the stages those are built FROM."""
    read: set[int] = set()
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            sources = instruction.flag_values("from") if instruction.keyword == "COPY" else []
            for mount in instruction.flag_values("mount"):
                sources += [part[5:] for part in mount.split(",") if part.startswith("from=")]
            for source in sources:
                found = dockerfile.stage(source)
                if found is None and source.isdigit() and int(source) < len(dockerfile.stages):
                    found = dockerfile.stages[int(source)]
                if found is not None:
                    read |= {ancestor.index for ancestor in dockerfile.lineage(found)}
    return read


def _copy_spec(instruction: Instruction, workdir: str) -> CopySpec | None:
    flags = dict(instruction.flags)
    words = instruction.words()
    if (
        set(flags) - PATCH_FLAGS
        or instruction.heredocs
        # BuildKit's history entry for the JSON form is not the one `created_by` spells.
        or instruction.exec_form() is not None
        or len(words) < 2
        or any(_GLOB.search(word) for word in words)
        or "$" in workdir
    ):
        return None
    *sources, destination = words
    normalized = [posixpath.normpath(source.lstrip("/")) for source in sources]
    if any(source.startswith("..") for source in normalized):
        return None
    # BuildKit reads "dir/", "." and "dir/." as directories to copy into.
    directory = destination.endswith(("/", "/.")) or destination == "."
    absolute = posixpath.normpath(posixpath.join(workdir, destination))
    if directory and absolute != "/":
        absolute += "/"
    return CopySpec(
        line=instruction.line,
        instruction=instruction,
        sources=tuple("" if source == "." else source for source in normalized),
        destination=absolute,
        link="link" in flags and flags["link"] in ("", "true"),
        chown=flags.get("chown") or None,
        chmod=flags.get("chmod") or None,
    )


def _read_by_others(dockerfile: Dockerfile, patchable: set[Instruction]) -> list[str]:
    """Context paths any other instruction of any stage may read: a COPY or ADD's sources, or
    the whole context for what cannot be told (a wildcard, a variable, a bind mount)."""
    read: list[str] = []
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction in patchable:
                continue
            if instruction.keyword in ("COPY", "ADD") and not instruction.flag_values("from"):
                words = instruction.words()[:-1]
                if any(_GLOB.search(word) for word in words):
                    return [""]
                # An ADD's URL is no context path: as a prefix it covers nothing, harmlessly.
                read += [posixpath.normpath(word.lstrip("/")) for word in words]
            elif instruction.keyword == "RUN" and any(
                "bind" in value and "from=" not in value
                for value in instruction.flag_values("mount")
            ):
                return [""]
    return ["" if path == "." else path for path in read]
