"""A small Dockerfile parser: just enough structure for the lint rules.

It follows BuildKit's reading of the file where that matters for line numbers and stage
resolution (parser directives, escape character, continuation lines with comments inside,
heredocs, `ARG` defaults before the first `FROM`) and tolerates what it does not model: an
unknown instruction is kept as written, never a parse error (a lint rule reports it).
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_DIRECTIVE = re.compile(r"#\s*([A-Za-z][\w-]*)\s*=\s*(\S*)\s*$")
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*([\"']?)([A-Za-z_][\w.-]*)\2")
_FLAG = re.compile(r"--([A-Za-z][\w-]*)(?:=(\"[^\"]*\"|\S*))?\s*")
_VARIABLE = re.compile(r"\\\$|\$(?:\{(\w+)(?:(:?[-+])([^}]*))?\}|(\w+))")
# Instructions whose arguments may carry `--name=value` flags before the operands.
_FLAGGED = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
# Every instruction BuildKit's frontend knows; any other keyword fails the build.
INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})  # fmt: skip
_HEREDOC_CAPABLE = frozenset({"RUN", "COPY", "ADD"})
# After an unknown directive BuildKit reads no more directives, so `escape` must come first.
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
# The ARGs BuildKit defines by itself in the global scope. Their values depend on the build
# (`--platform`); reading the file, the common linux/amd64 build stands in for all, so that
# `FROM base-${TARGETARCH}` names the stage base-amd64 instead of an unknown image.
AUTOMATIC_ARGS: Mapping[str, str] = {
    "TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64",
    "TARGETVARIANT": "", "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux",
    "BUILDARCH": "amd64", "BUILDVARIANT": "",
}  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    value: str  # everything after the keyword, continuation lines joined
    line: int  # 1-based line of the keyword
    heredocs: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()  # the comment lines directly above, for inline pragmas

    @property
    def flags(self) -> tuple[tuple[str, str], ...]:
        return _split_flags(self)[0]

    @property
    def operands(self) -> str:
        """The arguments after any leading flags."""
        return _split_flags(self)[1]

    def flag_values(self, name: str) -> list[str]:
        return [value for flag, value in self.flags if flag == name]

    def exec_form(self) -> list[str] | None:
        """The operands of the JSON form `["a", "b"]`, or None for the shell form."""
        if not self.operands.startswith("["):
            return None
        try:
            parsed = json.loads(self.operands)
        except json.JSONDecodeError:
            return None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
        return None

    def words(self) -> list[str]:
        """Operands as a list: the JSON form when it parses, else shell-like words."""
        exec_form = self.exec_form()
        return split_words(self.operands) if exec_form is None else exec_form


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None  # lower case, as BuildKit compares stage names
    from_: Instruction
    reference: str  # the image as written in FROM, e.g. ${BASE_IMAGE}
    image: str  # the reference with ARG values substituted
    unresolved: tuple[str, ...]  # ARGs the reference uses that have no value
    parent: int | None  # index of the earlier stage this one is FROM, if any
    instructions: tuple[Instruction, ...]  # after the FROM


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    # ARGs before the first FROM, defaults expanded; a stage sees one when it declares `ARG X`
    global_args: Mapping[str, str | None] = field(default_factory=dict)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name.lower()), None)

    def lineage(self, stage: Stage) -> list[Stage]:
        """`stage` and the stages it is built FROM, oldest first: what it inherits from."""
        chain = [stage]
        while chain[-1].parent is not None:
            chain.append(self.stages[chain[-1].parent])
        return chain[::-1]


def parse_file(path: Path, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    return parse(path.read_text(encoding="utf-8", errors="replace"), build_args)


def parse(text: str, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Parse `text`; `build_args` override ARG defaults as `--build-arg` would."""
    instructions = tuple(_instructions(text.splitlines()))
    global_args = _global_args(instructions, build_args or {})
    stages = tuple(_stages(instructions, {**AUTOMATIC_ARGS, **global_args}))
    return Dockerfile(instructions, stages, global_args)


def _global_args(
    instructions: tuple[Instruction, ...], build_args: Mapping[str, str]
) -> dict[str, str | None]:
    """ARGs before the first FROM, in order: `ARG B=python:${V}` sees the V declared above it."""
    values: dict[str, str | None] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            for name, default in arg_declarations(instruction).items():
                known = {**AUTOMATIC_ARGS, **values}
                if name in build_args:
                    values[name] = build_args[name]
                elif default is not None:
                    values[name] = expand(default, known)[0]
                else:
                    values[name] = AUTOMATIC_ARGS.get(name)
    return values


def arg_declarations(instruction: Instruction) -> dict[str, str | None]:
    """`ARG A=1 B` -> {"A": "1", "B": None}."""
    declared: dict[str, str | None] = {}
    for word in split_words(instruction.value):
        name, sep, default = word.partition("=")
        declared[name] = default if sep else None
    return declared


def env_assignments(instruction: Instruction) -> dict[str, str]:
    """`ENV A=1 B="x y"` and the legacy one-pair form `ENV A x y`."""
    words = split_words(instruction.value)
    if words and "=" not in words[0]:
        return {words[0]: instruction.value.split(None, 1)[1] if len(words) > 1 else ""}
    return dict(word.partition("=")[::2] for word in words if "=" in word)


def expand(text: str, variables: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """Substitute `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}` like BuildKit.

    Returns the result and the names that had no value (substituted as empty strings).
    """
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group(1) or match.group(4)
        value = variables.get(name)
        operator, word = match.group(2), match.group(3) or ""
        is_set = value is not None and (value != "" or operator in ("-", "+"))
        if operator in (":-", "-"):
            return value if is_set and value is not None else word
        if operator in (":+", "+"):
            return word if is_set else ""
        if value is None:
            missing.append(name)
        return value or ""

    return _VARIABLE.sub(substitute, text), missing


def split_words(text: str) -> list[str]:
    """Dockerfile words with quotes removed; falls back to whitespace for broken quoting."""
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return text.split()


def _split_flags(instruction: Instruction) -> tuple[tuple[tuple[str, str], ...], str]:
    text = instruction.value
    if instruction.keyword not in _FLAGGED:
        return (), text
    flags: list[tuple[str, str]] = []
    position = 0
    while match := _FLAG.match(text, position):
        flags.append((match.group(1).lower(), (match.group(2) or "").strip('"')))
        position = match.end()
    return tuple(flags), text[position:]


def _directives(lines: list[str]) -> Iterator[tuple[str, str]]:
    """Parser directives: `# name=value` lines at the very top, before anything else."""
    for line in lines:
        match = _DIRECTIVE.match(line)
        if not match or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            return
        yield match.group(1).lower(), match.group(2)


def _instructions(lines: list[str]) -> Iterator[Instruction]:
    escape = dict(_directives(lines)).get("escape", "\\")[:1] or "\\"
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    comments: list[str] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped:
            comments = []  # a pragma applies only to the instruction right below it
            index += 1
            continue
        if stripped.startswith("#"):
            comments.append(stripped)
            index += 1
            continue
        start = index
        parts: list[str] = []
        while True:
            body, joined = continuation.subn("", lines[index])
            parts.append(body)
            index += 1
            if not joined:
                break
            # BuildKit drops comment and empty lines inside a continued instruction.
            while index < len(lines) and (
                not lines[index].strip() or lines[index].lstrip().startswith("#")
            ):
                index += 1
            if index >= len(lines):
                break
        keyword, value = [*"".join(parts).strip().split(None, 1), ""][:2]
        heredocs: list[str] = []
        if keyword.upper() in _HEREDOC_CAPABLE:
            for match in _HEREDOC.finditer(value):
                body, index = _heredoc_body(lines, index, match.group(3), bool(match.group(1)))
                heredocs.append(body)
        yield Instruction(keyword.upper(), value, start + 1, tuple(heredocs), tuple(comments))
        comments = []


def _heredoc_body(
    lines: list[str], index: int, delimiter: str, strip_tabs: bool
) -> tuple[str, int]:
    """The heredoc's lines from `index` up to its delimiter (or the end of the file)."""
    body: list[str] = []
    while index < len(lines):
        line = lines[index].lstrip("\t") if strip_tabs else lines[index]
        index += 1
        if line.rstrip("\r") == delimiter:
            break
        body.append(line)
    return "\n".join(body), index


def _stages(
    instructions: tuple[Instruction, ...], global_args: Mapping[str, str | None]
) -> Iterator[Stage]:
    starts = [i for i, instruction in enumerate(instructions) if instruction.keyword == "FROM"]
    names: dict[str, int] = {}
    for index, (start, end) in enumerate(itertools.pairwise([*starts, len(instructions)])):
        stage = _stage(
            index, instructions[start], instructions[start + 1 : end], global_args, names
        )
        if stage.name:
            names[stage.name] = index
        yield stage


def _stage(
    index: int,
    from_: Instruction,
    body: tuple[Instruction, ...],
    global_args: Mapping[str, str | None],
    earlier: Mapping[str, int],
) -> Stage:
    words = split_words(from_.operands)
    reference = words[0] if words else ""
    name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
    image, missing = expand(reference, global_args)
    return Stage(
        index=index,
        name=name,
        from_=from_,
        reference=reference,
        image=image,
        unresolved=tuple(missing),
        parent=earlier.get(image.lower()),
        instructions=body,
    )
