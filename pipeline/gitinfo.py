"""Facts about the project's git checkout, read with GitPython."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHORT_SHA_LENGTH = 7


@dataclass(frozen=True)
class GitInfo:
    sha: str
    dirty: bool
    remote_url: str | None
    branch: str | None  # None on a detached HEAD

    @property
    def short_sha(self) -> str:
        return self.sha[:SHORT_SHA_LENGTH]


def _without_credentials(url: str) -> str:
    # CI remotes often embed a token: https://gitlab-ci-token:SECRET@host/group/repo.git
    return re.sub(r"^(\w+://)[^/@]+@", r"\1", url)


def git_info(project_dir: Path) -> GitInfo | None:
    """None when the project is not inside a git work tree or has no commit yet."""
    import git

    try:
        repo = git.Repo(project_dir, search_parent_directories=True)
        sha = repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
    remote_url = None
    if repo.remotes:
        remote = repo.remotes["origin"] if "origin" in repo.remotes else repo.remotes[0]
        remote_url = _without_credentials(next(remote.urls, "")) or None
    branch = None if repo.head.is_detached else repo.active_branch.name
    return GitInfo(
        sha=sha, dirty=repo.is_dirty(untracked_files=False), remote_url=remote_url, branch=branch
    )
