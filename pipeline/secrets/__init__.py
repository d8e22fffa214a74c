"""Secrets in a build context: what they look like (`detect`) and the scan of a context (`scan`).

The build step calls `check_build_context(build)` before it builds anything; `pipeline lint`
reports the same `scan_context` findings.
"""

from pipeline.secrets.scan import Finding, check_build_context, scan_context

__all__ = ["Finding", "check_build_context", "scan_context"]
