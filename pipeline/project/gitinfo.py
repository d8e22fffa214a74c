"""Facts about the project's git checkout, read with GitPython."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.errors import UserError
from pipeline.core.redact import URL_CREDENTIALS

if TYPE_CHECKING:
    import git

SHORT_SHA_LENGTH = 7


@dataclass(frozen=True)
class GitInfo:
    sha: str
    remote_url: str | None
    branch: str | None  # None on a detached HEAD
    committed_at: int  # the commit's time, seconds since the epoch: the image's timestamps
    dirty: bool = False  # the build context differs from the commit (`pipeline.project.worktree`)

    @property
    def short_sha(self) -> str:
        return self.sha[:SHORT_SHA_LENGTH]


def without_credentials(text: str) -> str:
    """Remote URLs (also inside git's messages) in CI often carry a token: drop it."""
    return URL_CREDENTIALS.sub(r"\1", text)


def open_repo(project_dir: Path, needed_for: str) -> git.Repo:
    """The repository holding the project; a user error naming `needed_for` when there is none."""
    import git

    try:
        repo = git.Repo(project_dir, search_parent_directories=True)
        repo.head.commit  # noqa: B018 - raises ValueError when there is no commit yet
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError) as exc:
        raise UserError(
            f"{project_dir.resolve()}: not in a git repository with a commit; {needed_for}"
        ) from exc
    return repo


def default_remote(repo: git.Repo) -> git.Remote | None:
    if not repo.remotes:
        return None
    return repo.remotes["origin"] if "origin" in repo.remotes else repo.remotes[0]


def git_info(project_dir: Path, needed_for: str) -> GitInfo:
    repo = open_repo(project_dir, needed_for)
    sha = repo.head.commit.hexsha
    remote = default_remote(repo)
    remote_url = without_credentials(next(remote.urls, "")) if remote else None
    branch = None if repo.head.is_detached else repo.active_branch.name
    return GitInfo(
        sha=sha,
        remote_url=remote_url,
        branch=branch,
        committed_at=repo.head.commit.committed_date,
    )
