"""Which COPY instructions of a Dockerfile a registry-side patch may redo, read from the file.

A COPY from the build context into the final image's lineage (its FROM chain of stages) makes a
layer that depends on nothing but its sources and its own flags when no RUN comes after it in
that lineage: no later step could have read what it copied. Everything else a build reads is
"fixed" input, and `pipeline.imagebuild.fingerprint` proves it unchanged.

A `COPY --link --from=STAGE PATH PATH` in the same place is a splice: its layer is STAGE's PATH
and nothing under it. When no other stage needs STAGE or a stage STAGE needs, the context files
those stages read are STAGE's own inputs, proven apart; a change to them alone rebuilds that
layer by itself (`pipeline.imagebuild.splice`) and replaces it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.imagebuild.stages import needed_stages, source_stages
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
class SpliceSpec:
    """One spliceable `COPY --link --from=STAGE SOURCE DESTINATION`."""

    line: int  # the instruction's line in the Dockerfile: its key in the image's labels
    stage: str  # the stage it copies from (its name, else its index)
    source: str
    destination: str
    reads: tuple[str, ...]  # context paths STAGE and the stages it needs read, and only they

    @property
    def created_by(self) -> str:
        """The history entry BuildKit writes for it: neither --from nor --link kept."""
        return f"COPY {self.source} {self.destination} # buildkit"


@dataclass(frozen=True)
class PatchPlan:
    copies: tuple[CopySpec, ...]
    # Context paths other instructions may read (prefixes; "" is the whole context).
    read_elsewhere: tuple[str, ...]
    bases: tuple[str, ...] = ()  # every image a stage is FROM, whose digest the proof holds
    splices: tuple[SpliceSpec, ...] = ()


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
    lineage = parsed.lineage(final)
    trailing = _trailing(lineage, _read_stages(parsed))
    copies = tuple(spec for spec in trailing if isinstance(spec, CopySpec))
    splices = _splices(parsed, lineage, [i for i in trailing if isinstance(i, Instruction)])
    patchable = {copy.instruction for copy in copies}
    spliced = {index for _, closure in splices for index in closure}
    read = _read_by_others(parsed, patchable, spliced)
    return PatchPlan(copies, tuple(read), bases, tuple(spec for spec, _ in splices))


def _trailing(lineage: list[Stage], read: set[int]) -> list[CopySpec | Instruction]:
    """The COPYs after the last RUN of the lineage: each context COPY with the WORKDIR it sees,
    and each `COPY --from` as written. A stage another one reads (`COPY --from`, a mount)
    passes what it holds on: like a RUN, it ends what a COPY before it may patch."""
    workdir = "/"
    found: list[CopySpec | Instruction] = []
    for stage in lineage:
        for instruction in stage.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = posixpath.join(workdir, instruction.operands.strip())
            elif instruction.keyword == "RUN":
                found = []
            elif instruction.keyword == "COPY" and instruction.flag_values("from"):
                found.append(instruction)
            elif instruction.keyword == "COPY":
                spec = _copy_spec(instruction, workdir)
                if spec is not None:
                    found.append(spec)
        if stage.index in read:
            found = []
    return found


def _splices(
    dockerfile: Dockerfile, lineage: list[Stage], candidates: list[Instruction]
) -> list[tuple[SpliceSpec, set[int]]]:
    """Each trailing `COPY --link --from=STAGE PATH PATH` whose STAGE, with every stage it
    needs, serves that COPY alone; with those stages' indexes. Any other use of them (a FROM,
    another COPY or mount, the final lineage) or a context read that cannot be told leaves it
    out. (From a stage, not an image: no image's digest is in the proof but a FROM's.)"""
    found: list[tuple[SpliceSpec, set[int]]] = []
    inherited = {stage.index for stage in lineage}
    for instruction in candidates:
        flags = dict(instruction.flags)
        words = instruction.words()
        stage = dockerfile.stage(flags.get("from", ""))
        if (
            set(flags) != {"link", "from"}
            or flags["link"] not in ("", "true")
            or stage is None
            or len(words) != 2
            or any("$" in word for word in words)
            or posixpath.normpath(words[0]) != posixpath.normpath(words[1])
        ):
            continue
        closure = {stage.index} | needed_stages(dockerfile, stage)
        users = _users(dockerfile, closure, skip=instruction)
        reads = _stages_read(dockerfile, closure)
        if closure & inherited or users - closure or reads is None:
            continue
        name = stage.name or str(stage.index)  # as `--from` names an unnamed stage
        spec = SpliceSpec(instruction.line, name, words[0], words[1], reads)
        found.append((spec, closure))
    return found


def _users(dockerfile: Dockerfile, stages: set[int], skip: Instruction) -> set[int]:
    """The stages that build FROM, or read files from, any of `stages` (`skip` aside)."""
    users: set[int] = set()
    for stage in dockerfile.stages:
        if stage.parent in stages:
            users.add(stage.index)
        for instruction in stage.instructions:
            if instruction is not skip and any(
                source.index in stages for source in source_stages(dockerfile, instruction)
            ):
                users.add(stage.index)
    return users


def _stages_read(dockerfile: Dockerfile, stages: set[int]) -> tuple[str, ...] | None:
    """The context paths `stages` read; None when that cannot be told, or is all of it."""
    read: list[str] = []
    for index in sorted(stages):
        for instruction in dockerfile.stages[index].instructions:
            paths = context_reads(instruction)
            if paths is None or "." in paths:
                return None
            read += paths
    return tuple(dict.fromkeys(read))


def _read_stages(dockerfile: Dockerfile) -> set[int]:
    """The stages whose files other stages read, with the stages those are built FROM."""
    read: set[int] = set()
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            for found in source_stages(dockerfile, instruction):
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


def _read_by_others(
    dockerfile: Dockerfile, patchable: set[Instruction], spliced: set[int]
) -> list[str]:
    """Context paths any other instruction of any stage but the `spliced` ones may read: a COPY
    or ADD's sources, or the whole context for what cannot be told."""
    read: list[str] = []
    for stage in dockerfile.stages:
        if stage.index in spliced:
            continue
        for instruction in stage.instructions:
            if instruction in patchable:
                continue
            paths = context_reads(instruction)
            if paths is None:
                return [""]
            read += paths
    return ["" if path == "." else path for path in read]


def context_reads(instruction: Instruction) -> list[str] | None:
    """The context paths an instruction may read; None when a wildcard, a variable or a bind
    mount of the context hides which."""
    if instruction.keyword in ("COPY", "ADD") and not instruction.flag_values("from"):
        words = instruction.words()[:-1]
        if any(_GLOB.search(word) for word in words):
            return None
        # An ADD's URL is no context path: as a prefix it covers nothing, harmlessly.
        return [posixpath.normpath(word.lstrip("/")) for word in words]
    if instruction.keyword == "RUN" and any(
        "bind" in value and "from=" not in value for value in instruction.flag_values("mount")
    ):
        return None
    return []
