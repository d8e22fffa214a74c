"""A live list of the release's steps with timings: rich on a terminal, plain lines in CI logs."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING

from pipeline.console.output import Output

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

ICONS = {"pending": "·", "running": "▶", "done": "✓", "skipped": "-", "failed": "✗"}


class StepProgress:
    def __init__(self, out: Output, steps: list[str]) -> None:
        self.out = out
        self.status = dict.fromkeys(steps, "pending")
        self.detail = dict.fromkeys(steps, "")
        self._started = 0.0
        self._live: Live | None = None

    def __enter__(self) -> StepProgress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            # Lines the steps print to stderr scroll above the list instead of tearing it.
            self._live = Live(
                self._table(), console=Console(stderr=True), redirect_stderr=True, transient=False
            )
            self._live.start()
        else:
            self.out.note("release: " + " → ".join(self.status))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live:
            self._live.update(self._table())
            self._live.stop()

    def start(self, step: str) -> None:
        self._started = time.monotonic()
        self._set(step, "running", "")

    def finish(self, step: str, status: str, detail: str = "") -> float:
        seconds = time.monotonic() - self._started if status != "skipped" else 0.0
        self._set(step, status, detail or (f"{seconds:.1f}s" if status != "skipped" else ""))
        return seconds

    def _set(self, step: str, status: str, detail: str) -> None:
        self.status[step], self.detail[step] = status, detail
        if self._live:
            self._live.update(self._table())
        else:
            self.out.note(f"{ICONS[status]} {step}" + (f" ({detail})" if detail else ""))

    def _table(self) -> Table:
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        for step, status in self.status.items():
            table.add_row(ICONS[status], step, self.detail[step])
        return table
