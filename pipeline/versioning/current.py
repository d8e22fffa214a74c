"""The project's current version, the one notion `build`, `version`, `push`, `release` and
`init` share.

VERSION says it when it exists. Without the file the highest release tag says it (a project
that dropped the file keeps counting from its releases), and a project with neither has not
been released: its first release is FIRST_VERSION.
"""

from __future__ import annotations

from pathlib import Path

import semver

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.versioning.versions import highest, parse_version

FIRST_VERSION = semver.Version(0, 1, 0)


def read_current(config: Config) -> semver.Version:
    path = config.path(config.version.file)
    if not path.is_file():
        return tagged_version(config.project_dir, config.version.tag_prefix) or FIRST_VERSION
    text = path.read_text(encoding="utf-8").strip()
    version = parse_version(text)
    if version is None:
        raise UserError(
            f"{path}: {text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)"
        )
    return version


def tagged_version(project_dir: Path, prefix: str) -> semver.Version | None:
    """The highest release tag's version; None outside a git repository or without tags."""
    import git

    try:
        repo = git.Repo(project_dir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    found = highest((tag.name for tag in repo.tags), prefix=prefix)
    return found[1] if found else None
