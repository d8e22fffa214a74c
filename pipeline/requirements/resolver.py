"""The dependency graph of a requirements file that writes none, from pip's own resolver.

`pip install --dry-run --ignore-installed --report -` resolves the file as an install would,
without installing, and reports every distribution with its metadata. It needs the package
index (and time: it fetches metadata, and builds sdists to get theirs), so `split` asks only
when `split.resolve` is on; when pip fails, the name rules alone decide.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pipeline.core.jsonrun import run_json

TIMEOUT_SECONDS = 600


class ResolveFailed(Exception):
    """pip could not resolve the file; the message says why."""


def resolved_graph(lines: list[str], cwd: Path) -> dict[str, set[str]]:
    """name -> the names it requires, for every distribution pip would install for `lines`
    (requirements-file lines, local paths relative to `cwd`)."""
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text("\n".join(lines) + "\n")
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--quiet", "--disable-pip-version-check", "--report", "-", "-r", str(requirements),
        ]  # fmt: skip
        report = run_json(command, cwd=cwd, timeout=TIMEOUT_SECONDS, error=ResolveFailed)
    try:
        return {
            canonicalize_name(item["metadata"]["name"]): _requires(item)
            for item in report["install"]
        }
    except (KeyError, TypeError) as exc:  # a pip whose report this code does not know
        raise ResolveFailed(f"unexpected installation report: no {exc}") from exc


def _requires(item: dict[str, Any]) -> set[str]:
    """The names this distribution requires here, with the extras it was asked for."""
    extras = ["", *(item.get("requested_extras") or [])]
    names = set()
    for text in item["metadata"].get("requires_dist") or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue  # pip accepted the distribution; an odd line is not ours to reject
        marker = requirement.marker
        if marker is None or any(
            marker.evaluate({**default_environment(), "extra": extra}) for extra in extras
        ):
            names.add(canonicalize_name(requirement.name))
    return names
