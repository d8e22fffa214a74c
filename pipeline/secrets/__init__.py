"""Secrets in a build context: what they look like (`detect`), the scan of a context (`scan`),
secrets given as build arguments (`buildargs`); and Git LFS pointers left where weights should
be (`lfs`).

The build step calls `check_build_context(build, allow)`, `check_build_args(args, allow)` and
`check_lfs_pointers(build)` before it builds anything; `pipeline lint` reports the same
`scan_context` findings. `allow` is `secrets.allow`, the reviewed findings that are no secret.
"""

from pipeline.secrets.buildargs import check_build_args
from pipeline.secrets.lfs import check_lfs_pointers
from pipeline.secrets.scan import (
    Allowance,
    Finding,
    allowances,
    check_build_context,
    scan_context,
)

__all__ = [
    "Allowance",
    "Finding",
    "allowances",
    "check_build_args",
    "check_build_context",
    "check_lfs_pointers",
    "scan_context",
]
