"""One check of the smoke test (a JUnit testcase) and the two ways a check ends early."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "skipped"]


@dataclass
class Check:
    name: str
    status: Status = "passed"
    seconds: float = 0.0
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "message": self.message,
            **({"details": self.details} if self.details else {}),
        }


class CheckError(Exception):
    """The check ran and said no; the message is the verdict people read."""


class CheckSkipped(Exception):
    """The check does not apply here (e.g. no GPU); the message says why."""
