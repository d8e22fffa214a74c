"""Where a step's words go: results on stdout (JSON or text), progress and notes on stderr.

Everything passes `mask_credentials` on its way out: a token in a URL is never printed.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from pipeline.core.redact import mask_credentials


class Output:
    def __init__(self, json_mode: bool = False, verbose: int = 0, stream: TextIO | None = None):
        self.json_mode = json_mode
        self.verbose = verbose
        self._stream = stream
        self.warnings: list[str] = []  # kept for the step reports and the release summary

    @property
    def stdout(self) -> TextIO:
        return self._stream or sys.stdout

    def result(self, payload: dict[str, Any], text: str) -> None:
        """The step's outcome: `payload` for machines (--json), `text` for people."""
        if self.json_mode:
            text = json.dumps(payload, indent=2, sort_keys=False, default=str)
        self.stdout.write(mask_credentials(text.removesuffix("\n")) + "\n")
        self.stdout.flush()

    def note(self, message: str) -> None:
        """Progress and warnings for people; never mixed into the JSON on stdout."""
        print(mask_credentials(message), file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        message = mask_credentials(message)
        self.warnings.append(message)
        self.note(f"warning: {message}")

    def debug(self, message: str) -> None:
        if self.verbose:
            self.note(message)
