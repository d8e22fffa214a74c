"""What a rule looks at (`Subject`) and what it finds (`Hit`): the types every rule module
shares, below them all so that the rule table imports the rules and nothing imports back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.project.buildcontext import BuildContext
from pipeline.project.dockerfile import Dockerfile, Instruction, Stage


@dataclass(frozen=True)
class Subject:
    """What the rules look at: the parsed Dockerfile and the build context it is built in."""

    dockerfile: Dockerfile
    final: Stage  # the stage that becomes the image (image.target, else the last)
    path: Path
    build: BuildContext  # read once per command: the context, its ignore file, the files sent

    @property
    def context(self) -> Path:
        return self.build.context

    @property
    def dockerignore(self) -> Path | None:
        """The ignore file the build reads, if any."""
        return self.build.ignore_file

    @property
    def final_from(self) -> Instruction:
        return self.final.from_


@dataclass(frozen=True)
class Hit:
    line: int | None
    message: str
    fix: str
    path: Path | None = None  # a file other than the Dockerfile (a secret in the context)
