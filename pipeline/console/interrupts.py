"""SIGTERM handled as Ctrl-C, so a cancelled CI job (or `kill`) runs every cleanup.

Python's default for SIGTERM ends the process at once: no `finally`, so containers and builds
we started would outlive us. As KeyboardInterrupt it unwinds like Ctrl-C and exits 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    # Only the main thread may set signal handlers.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
