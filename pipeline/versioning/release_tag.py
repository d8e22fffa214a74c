"""The git tag of a release, created after the images are pushed (a failed push leaves none).

The tagged commit must say the version it releases: otherwise the next run finds VERSION below
the newest tag and refuses to go on. So when VERSION differs from HEAD's, it is committed first
(`chore(release): X.Y.Z [skip ci]`, which releases nothing and starts no pipeline) and that
commit is tagged; pushing sends the tag and, for such a commit, the branch, atomically.
In CI that needs push rights: GitHub `permissions: contents: write`; GitLab a project or deploy
token with write_repository in the remote URL (the job token cannot push).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.project.gitinfo import default_remote, open_repo, without_credentials
from pipeline.versioning.decide import write_version
from pipeline.versioning.history import (
    BRANCH_ENVS,
    VERSIONS_NEED,
    branch_of,
    last_line,
)
from pipeline.versioning.versions import parse_version

if TYPE_CHECKING:
    import git

RELEASE_COMMIT_PREFIX = "chore(release): "
RELEASE_COMMIT = RELEASE_COMMIT_PREFIX + "{version} [skip ci]"


@dataclass(frozen=True)
class TagPush:
    """Where the tag step pushes: the tag and, when it makes a release commit, the branch."""

    remote: str
    tag: str
    branch: str  # "" when the tag goes alone: HEAD says the version already

    def refspecs(self, tag_source: str) -> list[str]:
        """`tag_source`: the local tag, or HEAD before it exists (the preflight's dry run)."""
        refspecs = [f"{tag_source}:refs/tags/{self.tag}"]
        if self.branch:
            refspecs.insert(0, f"HEAD:refs/heads/{self.branch}")
        return refspecs


@dataclass(frozen=True)
class ReleaseTag:
    name: str
    sha: str
    committed: bool  # VERSION was committed for this tag
    pushed: bool


def tag_release(
    config: Config, version: str, push: bool = True, environ: Mapping[str, str] | None = None
) -> ReleaseTag:
    """Tag HEAD `<version.tag_prefix><version>` (idempotent) and, with `push`, push it."""
    import git

    parsed = parse_version(version)
    if parsed is None:
        raise UserError(f"{version!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    repo = open_repo(config.project_dir, VERSIONS_NEED)
    name = f"{config.version.tag_prefix}{parsed}"
    message = RELEASE_COMMIT.format(version=parsed)
    existing = next((tag for tag in repo.tags if tag.name == name), None)
    # Where it goes is settled before HEAD moves, so a refusal leaves the checkout as it was.
    where = tag_push(config, repo, name, str(parsed), environ) if push else None
    committed = False
    if existing is None:
        try:
            committed = _commit_version_file(config, repo, str(parsed), message)
            repo.create_tag(name, message=f"Release {parsed}")
        except git.GitCommandError as exc:
            raise UserError(
                f"git could not make the release commit or tag {name}: "
                f"{last_line(exc)}; give git an identity (git config user.name and user.email, "
                "or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL/GIT_COMMITTER_NAME/GIT_COMMITTER_EMAIL)"
            ) from exc
    elif existing.commit != repo.head.commit:
        raise UserError(
            f"tag {name} exists already, on {existing.commit.hexsha[:7]}, not on HEAD "
            f"{repo.head.commit.hexsha[:7]}; version {parsed} was released from another commit"
        )
    head = repo.head.commit
    if where:
        refspecs = where.refspecs(f"refs/tags/{name}")
        try:
            repo.git.push("--atomic", where.remote, *refspecs)
        except git.GitCommandError as exc:
            failed = f"git push {where.remote} {' '.join(refspecs)} failed"
            if raced := _beaten(str(exc.stderr)):
                raise UserError(
                    f"{failed}: {raced}: another release (or a push) reached {where.remote} "
                    "first; the images are out, this release's tag and commit are not: update "
                    "the checkout (git pull --rebase --tags) and re-run the release"
                ) from exc
            raise UserError(
                f"{failed}: {without_credentials(last_line(exc))}; the images are out, the tag "
                "is not: give the job push rights (GitHub: permissions contents: write; GitLab: "
                "a token with write_repository), then re-run the tag step"
            ) from exc
    return ReleaseTag(name=name, sha=head.hexsha, committed=committed, pushed=push)


# git's words for a ref the remote holds at something else now: it moved while we released.
_MOVED = ("(fetch first)", "(non-fast-forward)", "(already exists)", "(stale info)")


def _beaten(stderr: str) -> str | None:
    """The ref another push moved first, as git names it (`main -> main (fetch first)`)."""
    for line in stderr.splitlines():
        if "[rejected]" in line and line.rstrip().endswith(_MOVED):
            return line.split("[rejected]", 1)[1].strip()
    return None


def tag_push(
    config: Config, repo: git.Repo, name: str, version: str, environ: Mapping[str, str] | None
) -> TagPush:
    """Where tag `name` of `version` would be pushed; a UserError when there is nowhere."""
    message = RELEASE_COMMIT.format(version=version)
    moves_branch = _needs_commit(config, repo, version) or _is_release_commit(repo, message)
    return TagPush(
        remote=_remote(repo), tag=name, branch=_branch(repo, environ) if moves_branch else ""
    )


def _version_file_text(config: Config) -> str | None:
    path = config.path(config.version.file)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _is_release_commit(repo: git.Repo, message: str) -> bool:
    return str(repo.head.commit.message).startswith(message)


def _version_path(config: Config, repo: git.Repo) -> str:
    path = config.path(config.version.file).resolve()
    return str(path.relative_to(Path(str(repo.working_tree_dir)).resolve()))


def _needs_commit(config: Config, repo: git.Repo, version: str) -> bool:
    """VERSION must change from what HEAD holds (the version step may have written it already)."""
    changed = repo.git.status("--porcelain", "--", _version_path(config, repo))
    return _version_file_text(config) != version or bool(changed)


def _commit_version_file(config: Config, repo: git.Repo, version: str, message: str) -> bool:
    if not _needs_commit(config, repo, version):
        return False
    if _version_file_text(config) != version:
        write_version(config, version)
    relative = _version_path(config, repo)
    repo.git.add("--", relative)
    # Only this file: whatever else is staged or changed stays out of the release commit.
    repo.git.commit("-m", message, "--only", "--", relative)
    return True


def _branch(repo: git.Repo, environ: Mapping[str, str] | None) -> str:
    branch = branch_of(repo, os.environ if environ is None else environ)
    if branch is None:
        raise UserError(
            "HEAD is detached and no CI variable names its branch "
            f"({', '.join(BRANCH_ENVS)}); the release commit of VERSION needs one to go to"
        )
    return branch


def _remote(repo: git.Repo) -> str:
    remote = default_remote(repo)
    if remote is None:
        raise UserError(
            "the repository has no remote to push the release tag to; add one, or set "
            "version.push_tag: false to keep the tag local"
        )
    return remote.name
