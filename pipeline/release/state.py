"""What an unfinished release has done, so a re-run continues instead of rebuilding.

The file is tied to one commit: a release of another commit starts over.
"""

from __future__ import annotations

import json
import os
import tempfile
import types
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.schema import STATE_DIR
from pipeline.core.errors import UserError

STATE_FILE = STATE_DIR / "release-state.json"
CORRUPT_SUFFIX = ".corrupt"


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


def load_state(
    project_dir: Path,
    commit: str,
    warn: Callable[[str], None],
    carried: Callable[[ReleaseState], bool] = lambda state: False,
) -> ReleaseState:
    """The saved state of this commit's release, or of the release `carried` says HEAD carries
    on (its release commit moved onto a branch that moved), or a fresh one.

    A file that is not a state (bad JSON, wrong types, written by another version) is reported
    through `warn` and moved aside, so the release starts afresh instead of failing on it.
    """
    path = state_path(project_dir)
    try:
        text = path.read_bytes()
    except OSError:
        return ReleaseState(commit=commit)
    try:
        saved = json.loads(text)
        problem = _problem(saved)
    except ValueError as exc:
        problem = f"not JSON: {exc}"
    if problem:
        aside = path.with_name(path.name + CORRUPT_SUFFIX)
        os.replace(path, aside)
        warn(f"{path}: damaged ({problem}); moved to {aside.name}, this release starts afresh")
        return ReleaseState(commit=commit)
    state = ReleaseState(**saved)
    if state.commit != commit and not carried(state):
        return ReleaseState(commit=commit)
    return state


def _problem(saved: Any) -> str | None:
    """Why `saved` is not a ReleaseState as this version writes it; None when it is."""
    if not isinstance(saved, dict):
        return f"a JSON {type(saved).__name__}, not an object"
    hints = typing.get_type_hints(ReleaseState)
    for name in saved:
        if name not in hints:
            return f"unknown field {name!r}"
    if "commit" not in saved:
        return "no commit"
    for name, value in saved.items():
        if not _fits(value, hints[name]):
            return f"{name}: {json.dumps(value)[:60]} is not a {_describe(hints[name])}"
    return None


def _fits(value: Any, annotation: Any) -> bool:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin is types.UnionType:
        return any(_fits(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(key, args[0]) and _fits(item, args[1]) for key, item in value.items()
        )
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is type(None):
        return value is None
    return isinstance(value, annotation)


def _describe(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def save_state(project_dir: Path, state: ReleaseState) -> None:
    """Written atomically: a run killed mid-write leaves the previous state, never half a file."""
    path = state_path(project_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=".release-state-", delete=False, encoding="utf-8"
        ) as handle:
            json.dump(asdict(state), handle, indent=2)
        try:
            os.replace(handle.name, path)
        except OSError:
            os.unlink(handle.name)
            raise
    except OSError as exc:
        raise UserError(
            f"{path}: cannot save the release state: {exc.strerror}; {STATE_DIR} must be a "
            "directory the release can write (the preflight checks it before a build)"
        ) from exc
