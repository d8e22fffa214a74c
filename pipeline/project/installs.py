"""What a Dockerfile's RUN instructions execute and install: the commands, the pip/uv/conda
installs among them and the requirement files those read.

Observations of the project's Dockerfile, which lint judges, `init` reports and the release
reads (whether it installs the files `split` writes).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from pipeline.project.dockerfile import Dockerfile, Instruction, Stage
from pipeline.project.shell import SHELLS, Command, commands

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


def installed_requirement_files(dockerfile: Dockerfile) -> Iterator[tuple[Instruction, str]]:
    """(RUN, FILE) for every `pip install -r FILE` (and uv's) in any stage."""
    for stage in dockerfile.stages:
        for run in stage_runs(stage):
            for install in installs(run):
                for name in requirement_files(install):
                    yield run, name
