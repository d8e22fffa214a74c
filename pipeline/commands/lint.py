"""`pipeline lint`: check the Dockerfile for ML-container mistakes, merged with hadolint's."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.commands.options import add_config_option
from pipeline.core.errors import UserError

if TYPE_CHECKING:
    from pipeline.commands.context import Context
    from pipeline.project.buildcontext import BuildContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="Dockerfiles (or directories holding one) to lint instead of project.dockerfile;"
        " each is built in its own directory",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID",
        help="skip this rule as well as those in lint.ignore (repeatable, or comma-separated)",
    )
    add_config_option(parser, "lint.fail_on", "--fail-on")
    add_config_option(parser, "lint.hadolint", "--hadolint")


def run(ctx: Context) -> int:
    from pipeline.lint import Severity
    from pipeline.lint.linter import lint_targets, raise_if_failing
    from pipeline.lint.report import render_json, render_text

    config = ctx.config
    extra = [rule_id.strip() for value in ctx.args.ignore for rule_id in value.split(",")]
    reports = lint_targets(config, ctx.out, _targets(ctx), extra)
    fail_on = Severity.parse(config.lint.fail_on)
    ctx.out.result(render_json(reports, fail_on), render_text(reports, fail_on))
    raise_if_failing(reports, fail_on)
    return 0


def _targets(ctx: Context) -> list[BuildContext]:
    """The builds to lint, each read once: the PATH arguments, else the project's."""
    from pipeline.lint.linter import project_target
    from pipeline.project.buildcontext import read_context

    if not ctx.args.paths:
        return [project_target(ctx.config)]
    targets = []
    for given in map(Path, ctx.args.paths):
        dockerfile = given / "Dockerfile" if given.is_dir() else given
        if not dockerfile.is_file():
            raise UserError(f"{dockerfile}: no such Dockerfile")
        targets.append(read_context(dockerfile, dockerfile.parent))
    return targets
