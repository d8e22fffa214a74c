"""The build context's secret scan as lint findings, under ML012 beside the rule's name check.

ML012 in rules.py flags secret-looking names; the scan (`pipeline.secrets`, the same one the
build step runs) also reads what files hold. Both report a file once: the scan's finding, which
says what the secret is, wins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.lint.report import Finding, Severity
from pipeline.project.buildcontext import BuildContext
from pipeline.secrets import scan_context

RULE_ID = "ML012"


def secret_findings(build: BuildContext, display: Callable[[Path], str]) -> list[Finding]:
    return [
        Finding(
            id=RULE_ID,
            severity=Severity.ERROR,
            file=display(build.context / found.path),
            line=found.line,
            message=f"{found.summary()} in the build context, sent to the builder and to any "
            "COPY .",
            fix=found.fix(),
        )
        for found in scan_context(build)
    ]


def merge(ours: list[Finding], scanned: list[Finding]) -> list[Finding]:
    """`ours` with the rule's name-only ML012 findings for the scanned files replaced."""
    files = {finding.file for finding in scanned}
    kept = [finding for finding in ours if not (finding.id == RULE_ID and finding.file in files)]
    return kept + scanned
