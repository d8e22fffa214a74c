"""Secrets in a build context: what they look like (`detect`) and the scan of a context (`scan`);
and Git LFS pointers left where weights should be (`lfs`).

The build step calls `check_build_context(build)` and `check_lfs_pointers(build)` before it
builds anything; `pipeline lint` reports the same `scan_context` findings.
"""

from pipeline.secrets.lfs import check_lfs_pointers
from pipeline.secrets.scan import Finding, check_build_context, scan_context

__all__ = ["Finding", "check_build_context", "check_lfs_pointers", "scan_context"]
