"""Every requirements source split reads, by its file name: a requirements file, pyproject.toml,
or a lock file (`locks.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.requirements.locks import lock_format, read_lock
from pipeline.requirements.parse import Requirements, display_path, read_requirements_file
from pipeline.requirements.pyproject import read_pyproject


def read_requirements(
    path: Path, root: Path | None = None, extras: Sequence[str] = (), groups: Sequence[str] = ()
) -> Requirements:
    """Every entry and option pip would read from `path`, with what reading left out said.

    `extras` and `groups`: the optional dependencies and dependency groups to take, where the
    source has them (pyproject.toml, uv.lock, poetry.lock, pdm.lock, Pipfile.lock).
    """
    root = root or path.parent
    label = display_path(path, root)
    if lock_format(path):
        return read_lock(path, label, root, extras, groups)
    if path.suffix == ".toml":
        return read_pyproject(path, label, extras, groups)
    return read_requirements_file(path, root)
