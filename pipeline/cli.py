"""`python -m pipeline`: argument parsing and the one error handler."""

from __future__ import annotations

import argparse
import importlib
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from pipeline import __version__
from pipeline.commands.context import Context
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

# One module per step in pipeline/commands/, in the order a release runs them.
COMMANDS = ["config", "init", "split", "lint", "build", "smoke", "version", "push", "release"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse exits 2 on its own; usage errors are user errors (exit 1) here.
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"pipeline.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipeline",
        description="Release pipeline for ML model containers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_common_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = _command_module(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        add_common_options(sub)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
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
