"""The build context's secret scan as lint findings, under ML012.

The one judgement of what is a secret is the scan the build step runs (`pipeline.secrets`): by
a file's name where the name alone makes it one, else by what it holds. Lint reports exactly
its findings, less the same `secrets.allow`, so lint and build never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.config.schema import Config
from pipeline.lint.report import Finding, Severity
from pipeline.project.buildcontext import BuildContext
from pipeline.secrets import allowances, scan_context

RULE_ID = "ML012"


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
