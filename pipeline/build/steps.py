"""Build steps as the report shows them, read from either builder's progress output."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Instructions that only change image metadata: never a layer, so never a cache question.
METADATA_INSTRUCTIONS = frozenset(
    [
        "ARG",
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
    ]
)
OUTPUT_LINES_KEPT = 30


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
        """FROM and metadata-only steps are not layers the cache could save."""
        return self.keyword not in METADATA_INSTRUCTIONS and self.keyword != "FROM"

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


class ClassicProgress:
    """Reads the classic builder's JSON stream (`{"stream": "Step 3/9 : RUN ..."}` lines)."""

    STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
    FROM_AS = re.compile(r"^FROM\s+\S+\s+AS\s+(\S+)", re.IGNORECASE)

    def __init__(self, on_step_start: StepCallback | None = None) -> None:
        self.steps: list[Step] = []
        self.image_id: str | None = None
        self.error: str | None = None
        self._stage = "global"  # ARGs before the first FROM
        self._stage_count = 0
        self._started = 0.0
        self._on_step_start = on_step_start

    def feed(self, chunk: dict[str, object]) -> None:
        if "error" in chunk:
            self.error = str(chunk["error"]).strip()
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            self.image_id = str(aux["ID"])
        text = chunk.get("stream")
        if isinstance(text, str):
            for line in text.splitlines():
                self._line(line.rstrip())

    def finish(self) -> None:
        self._close_current()

    def _line(self, line: str) -> None:
        match = self.STEP.match(line)
        if match:
            self._close_current()
            instruction = match.group(3).strip()
            if instruction.upper().startswith("FROM"):
                named = self.FROM_AS.match(instruction)
                self._stage = named.group(1) if named else f"stage-{self._stage_count}"
                self._stage_count += 1
            step = Step(self._stage, int(match.group(1)), int(match.group(2)), instruction)
            self.steps.append(step)
            self._started = time.monotonic()
            if self._on_step_start:
                self._on_step_start(step)
            return
        if not self.steps or not line:
            return
        if line.strip() == "---> Using cache":
            self.steps[-1].cached = True
        elif not line.startswith((" ---> ", "Removing intermediate container")):
            self.steps[-1].output.append(line)

    def _close_current(self) -> None:
        if self.steps and not self.steps[-1].seconds:
            self.steps[-1].seconds = time.monotonic() - self._started


class BuildKitProgress:
    """Reads `docker build --progress plain` from BuildKit: `#7 [builder 3/4] RUN ...` lines."""

    # The stage name is left out when the Dockerfile has a single stage: `#5 [2/2] RUN ...`.
    VERTEX = re.compile(r"^#(\d+) \[(?:([^\]]+?) )?(\d+)/(\d+)\] (.*)$")
    STATUS = re.compile(r"^#(\d+) (CACHED|DONE ([\d.]+)s|ERROR: (.*)|CANCELED)\s*$")
    OUTPUT = re.compile(r"^#(\d+) [\d.]+ (.*)$")

    def __init__(self, single_stage_name: str, on_step_start: StepCallback | None = None) -> None:
        self.steps: list[Step] = []
        self.errors: list[str] = []
        self._single_stage_name = single_stage_name
        self.tail: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)
        self._by_vertex: dict[str, Step] = {}
        self._on_step_start = on_step_start

    def feed_line(self, line: str) -> None:
        line = line.rstrip()
        self.tail.append(line)
        vertex = self.VERTEX.match(line)
        if vertex:
            number, stage, index, total, instruction = vertex.groups()
            if number not in self._by_vertex:
                step = Step(
                    stage or self._single_stage_name, int(index), int(total), instruction.strip()
                )
                self._by_vertex[number] = step
                self.steps.append(step)
                if self._on_step_start:
                    self._on_step_start(step)
            return
        status = self.STATUS.match(line)
        if status and status.group(1) in self._by_vertex:
            step = self._by_vertex[status.group(1)]
            if status.group(2) == "CACHED":
                step.cached = True
            elif status.group(3):
                step.seconds = float(status.group(3))
            elif status.group(4):
                self.errors.append(f"{step.label()}: {status.group(4)}")
            return
        output = self.OUTPUT.match(line)
        if output and output.group(1) in self._by_vertex:
            self._by_vertex[output.group(1)].output.append(output.group(2))


def cache_hit_ratio(steps: list[Step]) -> float | None:
    counted = [s for s in steps if s.counts_for_cache]
    if not counted:
        return None
    return sum(s.cached for s in counted) / len(counted)
