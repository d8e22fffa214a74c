"""What an unfinished release has done, so a re-run continues instead of rebuilding.

The file is tied to one commit: a release of another commit starts over.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = Path(".pipeline") / "release-state.json"


@dataclass
class ReleaseState:
    commit: str
    done: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    candidate: str | None = None  # repository@digest of the built image
    version: str | None = None
    tags: list[str] = field(default_factory=list)
    no_release_reason: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # figures for the summary

    def mark_done(self, step: str, seconds: float) -> None:
        if step not in self.done:
            self.done.append(step)
        self.seconds[step] = round(seconds, 2)


def state_path(project_dir: Path) -> Path:
    return project_dir / STATE_FILE


def load_state(project_dir: Path, commit: str) -> ReleaseState:
    """The saved state of this commit's release, or a fresh one."""
    path = state_path(project_dir)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ReleaseState(commit=commit)
    if not isinstance(saved, dict) or saved.get("commit") != commit:
        return ReleaseState(commit=commit)
    try:
        return ReleaseState(**saved)
    except TypeError:  # written by another version of pipeline: start this release afresh
        return ReleaseState(commit=commit)


def save_state(project_dir: Path, state: ReleaseState) -> None:
    """Written atomically: a run killed mid-write leaves the previous state, never half a file."""
    path = state_path(project_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=".release-state-", delete=False, encoding="utf-8"
    ) as handle:
        json.dump(asdict(state), handle, indent=2)
    os.replace(handle.name, path)
