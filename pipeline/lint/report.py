"""Findings and what a lint run reports: the text people read and the JSON machines read."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["pipeline", "hadolint"]


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, name: str) -> Severity:
        return cls[name.upper()]

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    id: str  # ML001..., or hadolint's DL3008 / SC2086
    severity: Severity
    file: str  # as shown to people: relative to the project directory when inside it
    line: int | None  # None for findings about the build context rather than a line
    message: str
    fix: str
    source: Source = "pipeline"
    same_as: tuple[str, ...] = ()  # hadolint rules that reported the same problem here

    @property
    def location(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def text(self) -> str:
        also = f" (also {', '.join(self.same_as)})" if self.same_as else ""
        return (
            f"{self.location} {self.id} {self.severity!s:<7} {self.message}{also} — fix: {self.fix}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": str(self.severity),
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "source": self.source,
            "same_as": list(self.same_as),
        }


@dataclass(frozen=True)
class HadolintStatus:
    state: Literal["ran", "disabled", "missing", "failed"]
    detail: str = ""

    def text(self) -> str:
        return {
            "ran": "hadolint ran",
            "disabled": "hadolint not run (lint.hadolint is false)",
            "missing": "hadolint not run (binary not found)",
            "failed": f"hadolint failed: {self.detail}",
        }[self.state]


@dataclass(frozen=True)
class Report:
    """The outcome of linting one Dockerfile."""

    dockerfile: str
    context: str
    dockerignore: str | None
    hadolint: HadolintStatus
    findings: tuple[Finding, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        return _counts(self.findings)

    def failing(self, fail_on: Severity) -> list[Finding]:
        """The findings that make the run fail: those at or above `fail_on`."""
        return [finding for finding in self.findings if finding.severity >= fail_on]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dockerfile": self.dockerfile,
            "context": self.context,
            "dockerignore": self.dockerignore,
            "hadolint": {"state": self.hadolint.state, "detail": self.hadolint.detail},
            "findings": [finding.to_dict() for finding in self.findings],
            "counts": self.counts(),
        }


def render_json(reports: Sequence[Report], fail_on: Severity) -> dict[str, Any]:
    findings = [finding for report in reports for finding in report.findings]
    return {
        "findings": [finding.to_dict() for finding in findings],
        "counts": _counts(findings),
        "fail_on": str(fail_on),
        "failed": any(report.failing(fail_on) for report in reports),
        "files": [
            {key: value for key, value in report.to_dict().items() if key != "findings"}
            for report in reports
        ],
    }


def render_text(reports: Sequence[Report], fail_on: Severity) -> str:
    lines = [finding.text() for report in reports for finding in report.findings]
    for report in reports:
        counts = ", ".join(_plural(n, name) for name, n in report.counts().items())
        failing = len(report.failing(fail_on))
        verdict = f"{failing} at or above {fail_on}" if failing else "passes"
        lines.append(f"{report.dockerfile}: {counts}; {verdict}; {report.hadolint.text()}")
    return "\n".join(lines)


def _counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {str(severity): 0 for severity in sorted(Severity, reverse=True)}
    for finding in findings:
        counts[str(finding.severity)] += 1
    return counts


def _plural(count: int, severity: str) -> str:
    return f"{count} {severity}" if count == 1 or severity == "info" else f"{count} {severity}s"
