"""Keep relative references valid when the layer files are written somewhere else.

pip reads `-r`, `-c` and a `--find-links` directory against the file that names them, but a
local project (`-e .`, `./libs/x`, `file:../x`) against the directory it runs in (pip#8765),
which by convention is the requirements file's own. The layer files keep both conventions:
every relative path in them is rewritten to point, from the output directory, at the place
it pointed at from the source.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from pipeline.requirements.parse import Entry, Option, looks_unnamed

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_MARKER = re.compile(r"\s*;\s")


def relocate_entry(entry: Entry, source_dir: Path, output_dir: Path) -> Entry:
    """`entry` with a relative local path rewritten for a file in `output_dir`."""
    location, marker = _split_marker(entry.text)
    name, at, reference = location.rpartition(" @ ")
    if not (at or entry.editable or looks_unnamed(location)):
        return entry  # a requirement by name
    moved = _relocate_reference(reference, source_dir, output_dir)
    if moved == reference:
        return entry
    return replace(entry, text=f"{name}{at}{moved}{marker}")


def relocate_option(option: Option, output_dir: Path) -> str:
    """The option's line for a file in `output_dir`."""
    if option.value is None:
        return option.flag
    value = option.value
    local = option.base_dir / value
    # pip takes a relative --find-links as a path only when it exists there.
    if option.flag == "--find-links" and not _SCHEME.match(value) and local.exists():
        value = _rebase(value, option.base_dir, output_dir)
    return f"{option.flag} {value}"


def _relocate_reference(reference: str, source_dir: Path, output_dir: Path) -> str:
    if reference.startswith("file:") and not reference.startswith("file://"):
        path, hash_mark, fragment = reference.removeprefix("file:").partition("#")
        return f"file:{_rebase(path, source_dir, output_dir)}{hash_mark}{fragment}"
    if _SCHEME.match(reference) or reference.startswith(("/", "~")):
        return reference
    path, hash_mark, fragment = reference.partition("#")
    return f"{_rebase(path, source_dir, output_dir)}{hash_mark}{fragment}"


def _rebase(path: str, old_dir: Path, new_dir: Path) -> str:
    if old_dir.resolve() == new_dir.resolve():
        return path
    relative = Path(os.path.relpath((old_dir / path).resolve(), new_dir.resolve())).as_posix()
    # pip takes `x` for a project name: a path must look like one.
    return relative if relative.startswith(".") else f"./{relative}"


def _split_marker(text: str) -> tuple[str, str]:
    match = _MARKER.search(text)
    return (text, "") if match is None else (text[: match.start()], text[match.start() :])
