"""`python -m pipeline`: argument parsing and the one error handler."""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from pipeline.commands import COMMANDS
from pipeline.commands.options import COMMON_DEFAULTS, add_common_options
from pipeline.console.interrupts import sigterm_interrupts
from pipeline.console.output import Output
from pipeline.console.streams import tolerate_closed_streams
from pipeline.core.errors import (
    INTERRUPTED_EXIT_CODE,
    UNEXPECTED_EXIT_CODE,
    PipelineError,
    UsageError,
)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # `--ignor` must not quietly mean `--ignore`: a flag added later would change its meaning.
        super().__init__(*args, **kwargs, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        # argparse exits 2 on its own; usage errors are user errors (exit 1) here.
        raise UsageError(f"{self.prog}: {message}{self._did_you_mean(message)} (see --help)")

    def _did_you_mean(self, message: str) -> str:
        """The close choice to a misspelt subcommand, option value or option."""
        if found := _INVALID_CHOICE.search(message):
            typed, choices = found.group(1), re.findall(r"'([^']*)'", found.group(2))
        elif found := _UNRECOGNIZED.search(message):
            # Reported by the top parser; the chosen subcommand's parser knows the options.
            commands = [a.choices.values() for a in self._actions if isinstance(a, _Commands)]
            parsers = [self, *(parser for chosen in commands for parser in chosen)]
            typed = next((word for word in found.group(1).split() if word.startswith("--")), "")
            choices = [option for parser in parsers for option in parser._option_string_actions]
        else:
            return ""
        close = difflib.get_close_matches(typed.partition("=")[0], choices, n=1)
        return f"; did you mean {close[0]}?" if close else ""


_INVALID_CHOICE = re.compile(r"invalid choice: '(.*)' \(choose from (.*)\)$")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*)$")


class _Version(argparse.Action):
    """`--version`; the version is looked up (importlib.metadata, tens of ms) only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> NoReturn:
        from pipeline import __version__

        sys.stdout.write(f"{parser.prog} {__version__}\n")
        parser.exit()


# argparse has no public hook for this: the private class is the one add_subparsers uses.
class _Commands(argparse._SubParsersAction):
    """Subcommands that get their arguments when chosen: one command module is imported per run,
    not all nine (each pulls in its step's packages)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name = values[0]
        sub = self._name_parser_map[name]
        if sub.get_default("handler") is None:  # not added yet: parse_args may run twice
            module = _command_module(name)
            add_common_options(sub)
            module.add_arguments(sub)
            sub.set_defaults(handler=module.run)
        super().__call__(parser, namespace, values, option_string)


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"pipeline.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipeline",
        description="Release pipeline for ML model containers.",
    )
    parser.add_argument("--version", action=_Version)
    add_common_options(parser)
    subparsers = parser.add_subparsers(
        action=_Commands, dest="command", metavar="COMMAND", parser_class=_Parser
    )
    for name, help_text in COMMANDS.items():
        subparsers.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A closed stdout or stderr never decides the exit code, and SIGTERM unwinds like Ctrl-C.
    with tolerate_closed_streams(), sigterm_interrupts():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    out = Output()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        for key, default in COMMON_DEFAULTS.items():
            if not hasattr(args, key):
                setattr(args, key, default)
        out = Output(json_mode=args.json, verbose=args.verbose)
        if args.command is None:
            parser.print_help()
            return 1
        from pipeline.commands.context import Context

        return int(args.handler(Context(args=args, out=out)))
    except PipelineError as exc:
        out.note(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        out.note("interrupted")
        return INTERRUPTED_EXIT_CODE
    except Exception:
        out.note(traceback.format_exc().rstrip())
        out.note(
            "error: unexpected failure (a bug in pipeline); the traceback above is for the report"
        )
        return UNEXPECTED_EXIT_CODE
