"""The build context's secret scan as lint findings, under ML012, and the build arguments that
carry secrets, under ML018.

The one judgement of what is a secret is the one the build step makes (`pipeline.secrets`): by
a file's name where the name alone makes it one, else by what it holds; a build argument by its
value and name. Lint reports exactly its findings, less the same `secrets.allow`, so lint and
build never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.config.schema import Config
from pipeline.lint.report import Finding, Severity
from pipeline.project.buildcontext import BuildContext
from pipeline.secrets import allowances, scan_context
from pipeline.secrets.buildargs import (
    BUILD_ARGS,
    argument,
    build_arg_findings,
    secret_advice,
)

RULE_ID = "ML012"
BUILD_ARG_RULE_ID = "ML018"


def secret_findings(
    build: BuildContext, config: Config, display: Callable[[Path], str]
) -> list[Finding]:
    return [
        Finding(
            id=RULE_ID,
            severity=Severity.ERROR,
            file=display(build.context / found.path),
            line=None if found.member else found.line,
            message=(f"{found.describe()}, " if found.member else f"{found.summary()} ")
            + "in the build context, sent to the builder and to any COPY .",
            fix=found.fix(),
        )
        for found in scan_context(build, allowances(config))
    ]


def build_arg_secret_findings(config: Config) -> list[Finding]:
    return [
        Finding(
            id=BUILD_ARG_RULE_ID,
            severity=Severity.ERROR,
            file=config.sources.get(BUILD_ARGS, BUILD_ARGS),
            line=None,
            message=f"{found.what} carries a secret ({found.shown}): its value stays in the "
            "image history; the build refuses it",
            fix=f"pass it as a build secret: {secret_advice(argument(found))}",
        )
        for found in build_arg_findings(config.image.build_args, allowances(config))
    ]
