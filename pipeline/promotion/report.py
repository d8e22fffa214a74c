"""What a promotion did: every tag pushed (and verified), what they point at, what was held."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PushedTag:
    tag: str
    ref: str
    digest: str
    moving: bool

    def as_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "ref": self.ref, "digest": self.digest, "moving": self.moving}


@dataclass
class PushReport:
    registry: str  # the registry kind
    repository: str
    version: str
    candidate: str
    method: str  # "registry": manifest copied in place; "engine": pulled, tagged, pushed
    digest: str  # what every pushed tag points at
    config_digest: str | None  # the image ID; None for a multi-platform index
    pushed: list[PushedTag] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # moving tags left alone, and why
    signatures: list[str] = field(default_factory=list)  # cosign's .sig/.att tags carried along

    @property
    def tags(self) -> list[str]:
        return [pushed.tag for pushed in self.pushed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "repository": self.repository,
            "version": self.version,
            "candidate": self.candidate,
            "method": self.method,
            "digest": self.digest,
            "config_digest": self.config_digest,
            "tags": [pushed.as_dict() for pushed in self.pushed],
            "held": self.held,
            "signatures": self.signatures,
        }

    def text(self) -> str:
        lines = [f"pushed {self.repository}: {', '.join(self.tags)}", f"digest {self.digest}"]
        lines += [f"held {tag}: {reason}" for tag, reason in self.held.items()]
        if self.signatures:
            lines.append(f"signatures and attestations: {', '.join(self.signatures)}")
        return "\n".join(lines)
