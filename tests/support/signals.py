"""Processes the tests interrupt as a terminal's Ctrl-C would."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """`preexec_fn` for a process the test sends SIGINT: a suite started in a script's background
    (`&`) ignores SIGINT, and Python then installs no Ctrl-C handler in the processes it starts."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
