"""A real local container stack for tests and the demo: engine, registries, cloud stand-ins.

    python -m devstack up | down [--purge] | status [--json] [--env]

From Python, `ensure_up()` brings it up (idempotently) and returns a `StackInfo`.
"""

from __future__ import annotations

from .stack import Component, StackInfo, down, ensure_up, stack_info, status

__all__ = ["Component", "StackInfo", "down", "ensure_up", "stack_info", "status"]
