"""Lint Dockerfiles for the mistakes that make ML images huge, slow to rebuild or unsafe.

`lint_dockerfile(build, config) -> Report` (a `pipeline.project.buildcontext` value) is what
the other steps call; the rules are in `rules.py` and documented in RULES.md.
"""

from pipeline.lint.linter import lint_dockerfile
from pipeline.lint.report import Finding, Report, Severity

__all__ = ["Finding", "Report", "Severity", "lint_dockerfile"]
