"""What the rules ask of a Dockerfile: images, environments, installs, copies, cache mounts.

These are observations, not judgments; `rules.py` decides what is a mistake.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from pipeline.lint.shell import SHELLS, Command, commands
from pipeline.project.dockerfile import (
    Dockerfile,
    Instruction,
    Stage,
    arg_declarations,
    env_assignments,
    expand,
)

# Dependency installers: program -> the subcommands that resolve and install packages.
_INSTALL_SUBCOMMANDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "pip": (("install",),),
    "uv": (("pip", "install"), ("pip", "sync"), ("sync",)),
    "conda": (("install",), ("create",), ("env", "create"), ("env", "update")),
    "poetry": (("install",),),
    "pipenv": (("install",), ("sync",)),
}
_PROGRAM_TOOLS = {"mamba": "conda", "micromamba": "conda"}
_NO_DEPS_FLAGS = frozenset({"--no-deps", "--only-root", "--no-dependencies"})
# Packaging tools: `pip install -U pip setuptools wheel` or `pip install poetry` prepares the
# installer, it does not install the project's dependencies.
_TOOL_PACKAGES = frozenset(
    {"pip", "setuptools", "wheel", "uv", "poetry", "poetry-core", "poetry-plugin-export"}
    | {"pipenv", "pip-tools", "virtualenv", "hatch", "hatchling", "pdm", "build", "pipx"}
)
# pip/uv options that take a value, and those whose value is a list of dependencies
_VALUE_OPTIONS = frozenset(
    {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target"}
    | {"--prefix", "--root", "--python", "-p", "--trusted-host", "--platform", "--cache-dir"}
)
_DEPENDENCY_OPTIONS = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "--group"}
)
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What empties an installer's download cache: `rm -rf /root/.cache/pip`, `rm -rf ~/.cache`
_CACHE_PATHS = {tool: re.compile(rf"(^|/)\.cache(/{tool})?(/\*?)?$") for tool in ("pip", "uv")}
_CACHE_COMMANDS = (("cache", "purge"), ("cache", "remove"), ("cache", "clean"))
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


@dataclass(frozen=True)
class Install:
    tool: str  # pip, uv, conda, poetry, pipenv
    command: Command

    @property
    def resolves_dependencies(self) -> bool:
        """False for `pip install --no-deps .`, which installs only the app itself."""
        return not _NO_DEPS_FLAGS.intersection(self.command.argv)

    @property
    def installs_tools_only(self) -> bool:
        """`pip install -U pip setuptools wheel`, `pip install poetry==1.8.3`, `pip install uv`."""
        if self.tool not in ("pip", "uv"):
            return False
        if any(word.split("=", 1)[0] in _DEPENDENCY_OPTIONS for word in self._arguments()):
            return False
        names = [_REQUIREMENT_NAME.match(p) for p in self.packages]
        return bool(self.packages) and all(
            name is not None and canonicalize_name(name.group(0)) in _TOOL_PACKAGES
            for name in names
        )

    @property
    def packages(self) -> list[str]:
        """The requirements named on the command line (`torch==2.3.0`), not options or files."""
        if "install" not in self.command.argv:
            return []  # `uv pip sync FILE...` names files, `uv sync` a project
        return self._positionals()

    @property
    def synced_files(self) -> list[str]:
        """The requirement files of `uv pip sync FILE...`."""
        _, words = _tool_and_words(self.command)
        return self._positionals() if words[:2] == ("pip", "sync") else []

    def option_values(self, *options: str) -> list[str]:
        """The values given to `options` (`--index-url URL`, `--index-url=URL`)."""
        values = []
        arguments = self._arguments()
        for index, word in enumerate(arguments):
            option, equals, value = word.partition("=")
            if option in options:
                if equals:
                    values.append(value)
                elif index + 1 < len(arguments):
                    values.append(arguments[index + 1])
        return values

    def _arguments(self) -> list[str]:
        """What follows the subcommand: `install` for pip and `uv pip`, `sync` for uv's."""
        argv = self.command.argv
        for subcommand in ("install", "sync"):
            if subcommand in argv:
                return list(argv[argv.index(subcommand) + 1 :])
        return []

    def _positionals(self) -> list[str]:
        words: list[str] = []
        skip = False
        for word in self._arguments():
            option = word.split("=", 1)[0]
            if skip:
                skip = False
            elif word.startswith("-"):
                skip = "=" not in word and option in _VALUE_OPTIONS | _DEPENDENCY_OPTIONS
            else:
                words.append(word)
        return words


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


def run_commands(run: Instruction) -> list[Command]:
    """The simple commands a RUN executes, including heredoc scripts given to a shell."""
    exec_form = run.exec_form()
    if exec_form is not None:
        return commands(shlex.join(exec_form))
    script = run.operands
    first = script.split(None, 1)[0] if script.strip() else ""
    if first.startswith("<<") or posixpath.basename(first) in SHELLS:
        script = "\n".join((script, *run.heredocs))
    return commands(script)


def installs(run: Instruction) -> list[Install]:
    found = []
    for command in run_commands(run):
        tool, words = _tool_and_words(command)
        if _is_install(tool, words):
            found.append(Install(tool, command))
    return found


def requirement_files(install: Install) -> list[str]:
    """The files an install reads with `-r FILE` / `--requirement=FILE` (or `uv pip sync FILE`),
    as written."""
    argv = install.command.argv
    files = list(install.synced_files)
    for index, word in enumerate(argv):
        option, equals, value = word.partition("=")
        if option not in ("-r", "--requirement"):
            if word.startswith("-r") and len(word) > 2 and not word.startswith("--"):
                files.append(word[2:])
            continue
        if equals:
            files.append(value)
        elif index + 1 < len(argv):
            files.append(argv[index + 1])
    return files


def cache_cleared(run: Instruction, tool: str) -> bool:
    """Whether the RUN empties `tool`'s download cache after installing with it, so the cache
    never reaches the layer: `&& rm -rf /root/.cache/pip`, `&& pip cache purge`."""
    installed = False
    for command in run_commands(run):
        program, words = _tool_and_words(command)
        if program == tool and _is_install(program, words):
            installed = True
        elif installed and (
            (program == tool and words[:2] in _CACHE_COMMANDS)
            or (command.program == "rm" and any(_CACHE_PATHS[tool].search(a) for a in words))
        ):
            return True
    return False


def _is_install(tool: str, words: tuple[str, ...]) -> bool:
    return any(words[: len(sub)] == sub for sub in _INSTALL_SUBCOMMANDS.get(tool, ()))


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


def stage_runs(stage: Stage) -> Iterator[Instruction]:
    return (instruction for instruction in stage.instructions if instruction.keyword == "RUN")


def _tool_and_words(command: Command) -> tuple[str, tuple[str, ...]]:
    """(`pip`, (`install`, ...)) for `python3 -m pip install ...`, `pip3.11 install ...`..."""
    program, argv = command.program, command.argv
    if re.fullmatch(r"python[\d.]*", program) and "-m" in argv:
        module_at = argv.index("-m") + 1
        program, argv = (argv[module_at], argv[module_at:]) if module_at < len(argv) else ("", ())
    if re.fullmatch(r"pip[\d.]*", program):
        program = "pip"
    words = tuple(word for word in argv[1:] if not word.startswith("-"))
    return _PROGRAM_TOOLS.get(program, program), words
