"""Conventional commits (https://www.conventionalcommits.org): the bump a message asks for.

`feat` asks for a minor release, `fix` and `perf` for a patch; `!` after the type or scope, or
a `BREAKING CHANGE:` / `BREAKING-CHANGE:` footer, for a major one. Anything else (chore, docs,
merge commits, messages that are not conventional) releases nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Bump = Literal["major", "minor", "patch"]
BUMP_RANK: dict[Bump, int] = {"patch": 1, "minor": 2, "major": 3}
TYPE_BUMPS: dict[str, Bump] = {"feat": "minor", "fix": "patch", "perf": "patch"}

_HEADER = re.compile(r"(?P<type>[A-Za-z]+)(?:\([^()\r\n]*\))?(?P<breaking>!)?: \S")
# The footer token is case-sensitive in the specification, unlike the type.
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ", re.MULTILINE)


@dataclass(frozen=True)
class DecidingCommit:
    """A commit that asks for a release, for the report of why a version was chosen."""

    sha: str
    subject: str
    bump: Bump

    def as_dict(self) -> dict[str, str]:
        return {"sha": self.sha, "subject": self.subject, "bump": self.bump}


def bump_of(message: str) -> Bump | None:
    subject, _, body = message.strip().partition("\n")
    match = _HEADER.match(subject.strip())
    if not match:
        return None
    if match["breaking"] or _BREAKING_FOOTER.search(body):
        return "major"
    return TYPE_BUMPS.get(match["type"].lower())


def strongest(bumps: list[Bump]) -> Bump | None:
    return max(bumps, key=BUMP_RANK.__getitem__, default=None)
