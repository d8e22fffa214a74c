"""What the project's git history says about releases, read with GitPython.

CI checkouts differ from a laptop's: GitLab checks out a detached HEAD (the branch is then taken
from `CI_COMMIT_REF_NAME`, or GitHub's `GITHUB_REF_NAME`), and both GitHub and GitLab clone
shallow by default, which hides the tags and the commits since them. A shallow clone is
deepened with `git fetch --unshallow --tags`; where that fails the error says what to set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import semver

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.project.gitinfo import (
    SHORT_SHA_LENGTH,
    default_remote,
    open_repo,
    without_credentials,
)
from pipeline.versioning.versions import release_versions

if TYPE_CHECKING:
    import git

BRANCH_ENVS = ("CI_COMMIT_REF_NAME", "GITHUB_REF_NAME")
VERSIONS_NEED = "versions come from its tags and commits (git init && git commit)"
FULL_HISTORY_HINT = (
    "fetch the full history with tags: GitHub Actions actions/checkout with `fetch-depth: 0`, "
    'GitLab CI `variables: GIT_DEPTH: "0"`, or `git fetch --unshallow --tags`'
)


@dataclass(frozen=True)
class History:
    repo: git.Repo
    project_path: str  # the project's directory relative to the repository root ("." at root)
    branch: str | None
    sha: str
    releases: dict[str, semver.Version]  # every release tag -> its version
    reachable: frozenset[str]  # the release tags reachable from HEAD

    @property
    def short_sha(self) -> str:
        return self.sha[:SHORT_SHA_LENGTH]

    def latest(self, stable_only: bool = False) -> tuple[str, semver.Version] | None:
        """The highest release tag reachable from HEAD."""
        candidates = [
            (tag, version)
            for tag, version in self.releases.items()
            if tag in self.reachable and not (stable_only and version.prerelease)
        ]
        return max(candidates, key=lambda pair: pair[1], default=None)

    def tag_of(self, version: semver.Version) -> str | None:
        return next((tag for tag, v in self.releases.items() if str(v) == str(version)), None)

    def commits_since(self, tag: str | None) -> list[tuple[str, str]]:
        """(sha, message) of the commits after `tag` up to HEAD that touch the project."""
        revision = f"{tag}..HEAD" if tag else "HEAD"
        paths = [] if self.project_path == "." else [self.project_path]
        return [
            (commit.hexsha, str(commit.message))
            for commit in self.repo.iter_commits(revision, paths=paths)
        ]

    def changed_paths(self, ignore: set[str]) -> list[str]:
        """Tracked files with uncommitted changes, relative to the repository root."""
        status = self.repo.git.status("--porcelain", "--untracked-files=no")
        paths = [line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines()]
        return [path for path in paths if path not in ignore]


def read_history(config: Config, environ: Mapping[str, str]) -> History:
    repo = open_repo(config.project_dir, VERSIONS_NEED)
    _deepen_if_shallow(repo)
    releases = release_versions((tag.name for tag in repo.tags), config.version.tag_prefix)
    reachable = frozenset(repo.git.tag("--merged", "HEAD").split()) & releases.keys()
    return History(
        repo=repo,
        project_path=project_path(config, repo),
        branch=branch_of(repo, environ),
        sha=repo.head.commit.hexsha,
        releases=releases,
        reachable=reachable,
    )


def project_path(config: Config, repo: git.Repo) -> str:
    """The project's directory relative to the repository root ("." at the root)."""
    root = Path(str(repo.working_tree_dir)).resolve()
    return config.project_dir.resolve().relative_to(root).as_posix()


def branch_of(repo: git.Repo, environ: Mapping[str, str]) -> str | None:
    if not repo.head.is_detached:
        return repo.active_branch.name
    return next((environ[name] for name in BRANCH_ENVS if environ.get(name)), None)


def _deepen_if_shallow(repo: git.Repo) -> None:
    import git

    if not (Path(repo.git_dir) / "shallow").exists():
        return
    where = Path(str(repo.working_tree_dir))
    if not repo.remotes:
        raise UserError(
            f"{where}: a shallow clone without a remote to deepen it from; {FULL_HISTORY_HINT}"
        )
    remote = default_remote(repo)
    assert remote is not None
    try:
        repo.git.fetch(remote.name, "--unshallow", "--tags")
    except git.GitCommandError as exc:
        reason = without_credentials(last_line(exc))
        raise UserError(
            f"{where}: a shallow clone, and `git fetch --unshallow --tags {remote.name}` "
            f"failed ({reason}); {FULL_HISTORY_HINT}"
        ) from exc


def last_line(exc: git.GitCommandError) -> str:
    """The last line git wrote to stderr: its own summary of what went wrong."""
    lines = [line.strip(" '") for line in str(exc.stderr).strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {exc.status}"
