"""Build steps as the report shows them, read from buildx's own progress (`--progress rawjson`).

rawjson is BuildKit's solve status as a stream of JSON objects (vertexes, statuses, logs), one
per update: cache hits and timings come from the builder itself, not from parsing text meant
for people. Each object is printed indented, so an object ends at a line that is only `}`.
"""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OUTPUT_LINES_KEPT = 30
# `[builder 3/6] RUN pip install ...`; a single-stage Dockerfile has no stage name: `[2/2] ...`.
# The number is padded to the width of the total: `[builder  3/12]`, `[ 3/12]`.
STEP_NAME = re.compile(r"^\[(?:(\S+) )?\s*(\d+)/(\d+)\] (.*)$", re.DOTALL)
LINK_PREFIX = "LINK "


@dataclass
class Step:
    stage: str
    number: int
    total: int
    instruction: str
    cached: bool = False
    seconds: float = 0.0
    output: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES_KEPT))

    @property
    def keyword(self) -> str:
        return self.instruction.split(maxsplit=1)[0].upper() if self.instruction else ""

    @property
    def counts_for_cache(self) -> bool:
        """A FROM is pulled, never built: not a step the cache could save."""
        return self.keyword != "FROM"

    def label(self) -> str:
        return f"[{self.stage} {self.number}/{self.total}] {self.instruction}"

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "step": f"{self.number}/{self.total}",
            "instruction": self.instruction,
            "cached": self.cached,
            "seconds": round(self.seconds, 2),
        }


StepCallback = Callable[[Step], None]


def timestamp(text: str) -> datetime:
    """RFC 3339 with nanoseconds, which `datetime` cannot read: cut to microseconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


class RawJsonProgress:
    """Reads `docker buildx build --progress rawjson` line by line."""

    def __init__(self, single_stage_name: str, on_step_start: StepCallback | None = None) -> None:
        self.steps: list[Step] = []
        self.errors: list[str] = []
        self.tail: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)  # lines that were not JSON
        self._single_stage_name = single_stage_name
        self._on_step_start = on_step_start
        self._by_vertex: dict[str, Step] = {}
        self._by_key: dict[tuple[str, int], Step] = {}
        self._cached: dict[str, bool] = {}
        self._seconds: dict[str, float] = {}
        self._started: set[int] = set()  # id() of the steps announced
        self._buffer: list[str] = []

    def feed_line(self, line: str) -> None:
        # buildx prints each status indented over many lines, ending with a line `}`; a status
        # on one line is read as it comes, so it never holds back the lines after it.
        if self._buffer or line.startswith("{"):
            self._buffer.append(line)
            if len(self._buffer) == 1 or line.rstrip() == "}":
                text = "".join(self._buffer)
                try:
                    status = json.loads(text)
                except ValueError:
                    if line.rstrip() == "}":
                        self._buffer = []
                        self.tail.extend(text.splitlines())
                    return
                self._buffer = []
                if isinstance(status, dict):
                    self.feed(status)
            return
        if line.strip():
            self.tail.append(line.rstrip())

    def feed(self, status: dict[str, Any]) -> None:
        for vertex in status.get("vertexes") or []:
            self._vertex(vertex)
        for log in status.get("logs") or []:
            step = self._by_vertex.get(log.get("vertex", ""))
            if step is not None:
                text = base64.b64decode(log.get("data") or b"").decode(errors="replace")
                step.output.extend(line for line in text.splitlines() if line.strip())

    def _vertex(self, vertex: dict[str, Any]) -> None:
        digest, name = vertex.get("digest", ""), vertex.get("name", "")
        step = self._by_vertex.get(digest)
        if step is None:
            match = STEP_NAME.match(name)
            if not match:
                if vertex.get("error"):  # `[internal] load build definition`, exporters, ...
                    self.errors.append(f"{name}: {vertex['error']}")
                return
            stage, number, total, instruction = match.groups()
            stage = stage or self._single_stage_name
            # `COPY --link` is two vertexes, the copy and its `LINK COPY --link ...` merge:
            # one step, cached only when both are.
            key = (stage, int(number))
            step = self._by_key.get(key)
            if step is None:
                instruction = instruction.removeprefix(LINK_PREFIX)
                step = Step(stage, int(number), int(total), instruction)
                self._by_key[key] = step
                self.steps.append(step)
            self._by_vertex[digest] = step
        # BuildKit lists every vertex when the solve begins; a step starts when it says so.
        if vertex.get("started") and id(step) not in self._started:
            self._started.add(id(step))
            if self._on_step_start:
                self._on_step_start(step)
        self._cached[digest] = self._cached.get(digest, False) or bool(vertex.get("cached"))
        mine = [d for d, s in self._by_vertex.items() if s is step]
        step.cached = all(self._cached.get(d, False) for d in mine)
        if vertex.get("started") and vertex.get("completed"):
            elapsed = timestamp(vertex["completed"]) - timestamp(vertex["started"])
            self._seconds[digest] = max(elapsed.total_seconds(), 0.0)
            step.seconds = sum(self._seconds.get(d, 0.0) for d in mine)
        if vertex.get("error"):
            self.errors.append(f"{step.label()}: {vertex['error']}")


def cache_hit_ratio(steps: list[Step]) -> float | None:
    counted = [s for s in steps if s.counts_for_cache]
    if not counted:
        return None
    return sum(s.cached for s in counted) / len(counted)
