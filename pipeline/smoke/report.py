"""What a smoke test reports: JSON for machines, JUnit XML for CI test views, text for people."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.core.redact import mask_credentials
from pipeline.smoke.checks import Check

MARKS = {"passed": "✓", "failed": "✗", "skipped": "-"}
# XML 1.0 cannot carry most control characters, and container logs are full of them (colours).
_NOT_XML = re.compile(
    r"\x1b\[[0-9;]*[A-Za-z]|[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass
class SmokeReport:
    image: str
    checks: list[Check] = field(default_factory=list)
    image_id: str | None = None
    container: str | None = None
    network: str | None = None
    url: str | None = None
    gpu: dict[str, Any] = field(default_factory=dict)
    latency_ms: dict[str, float | int] | None = None
    logs_tail: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0
    report_path: Path | None = None
    junit_path: Path | None = None

    @property
    def passed(self) -> bool:
        return all(check.status != "failed" for check in self.checks)

    @property
    def failure(self) -> Check | None:
        return next((check for check in self.checks if check.status == "failed"), None)

    def as_dict(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "image": self.image,
            "image_id": self.image_id,
            "passed": self.passed,
            "failure": f"{failure.name}: {failure.message}" if failure else None,
            "seconds": round(self.seconds, 2),
            "container": self.container,
            "network": self.network,
            "url": self.url,
            "gpu": self.gpu,
            "latency_ms": self.latency_ms,
            "checks": [check.as_dict() for check in self.checks],
            "logs_tail": self.logs_tail,
            "report": str(self.report_path) if self.report_path else None,
            "junit": str(self.junit_path) if self.junit_path else None,
        }

    def text(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"smoke test of {self.image}: {verdict} in {self.seconds:.1f}s"]
        width = max((len(check.name) for check in self.checks), default=0)
        for check in self.checks:
            timing = f"{check.seconds:6.2f}s" if check.status != "skipped" else " " * 7
            lines.append(
                f"  {MARKS[check.status]} {check.name:<{width}}  {timing}  {check.message}".rstrip()
            )
        if self.report_path and self.junit_path:
            lines.append(f"report: {self.report_path}  junit: {self.junit_path}")
        return "\n".join(lines)


def write_json(report: SmokeReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report.as_dict(), indent=2, default=str)
    path.write_text(mask_credentials(text) + "\n", encoding="utf-8")


def junit_xml(report: SmokeReport) -> str:
    """One <testsuite> of one <testcase> per check, the shape GitHub and GitLab both read."""
    failures = sum(check.status == "failed" for check in report.checks)
    skipped = sum(check.status == "skipped" for check in report.checks)
    suites = ET.Element(
        "testsuites",
        name="pipeline smoke",
        tests=str(len(report.checks)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{report.seconds:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"smoke {report.image}",
        tests=str(len(report.checks)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{report.seconds:.3f}",
        timestamp=report.started.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    for check in report.checks:
        case = ET.SubElement(
            suite, "testcase", classname="smoke", name=check.name, time=f"{check.seconds:.3f}"
        )
        if check.status == "failed":
            failure = ET.SubElement(
                case, "failure", message=_xml_text(check.message), type="CheckFailed"
            )
            logs = "\n".join(report.logs_tail)
            failure.text = _xml_text(
                check.message + (f"\n\nlast lines of the container's log:\n{logs}" if logs else "")
            )
        elif check.status == "skipped":
            ET.SubElement(case, "skipped", message=_xml_text(check.message))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def write_junit(report: SmokeReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(mask_credentials(junit_xml(report)) + "\n", encoding="utf-8")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)
