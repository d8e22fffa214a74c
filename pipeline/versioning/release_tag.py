"""The git tag of a release, created after the images are pushed (a failed push leaves none).

The tagged commit must say the version it releases: otherwise the next run finds VERSION below
the newest tag and refuses to go on. So when VERSION differs from HEAD's, it is committed first
(`chore(release): X.Y.Z [skip ci]`, which releases nothing and starts no pipeline) and that
commit is tagged; pushing sends the tag and, for such a commit, the branch, atomically.
In CI that needs push rights: GitHub `permissions: contents: write`; GitLab a project or deploy
token with write_repository in the remote URL (the job token cannot push).

The branch may move on the remote while a release builds (another project of a monorepo released
by a parallel job, a merge): the push is then rejected, and the release commit is put on top of
the remote branch, re-tagged and pushed again, as `git pull --rebase` would, but only when the
commits it lands on leave the project's directory alone; the tag would otherwise name code the
image was not built from.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.project.gitinfo import default_remote, open_repo, without_credentials
from pipeline.project.worktree import first_few
from pipeline.versioning.decide import write_version
from pipeline.versioning.history import (
    BRANCH_ENVS,
    VERSIONS_NEED,
    branch_of,
    last_line,
    project_path,
)
from pipeline.versioning.versions import parse_version

if TYPE_CHECKING:
    import git

RELEASE_COMMIT_PREFIX = "chore(release): "
RELEASE_COMMIT = RELEASE_COMMIT_PREFIX + "{version} [skip ci]"
# Each rejected push that a moved branch explains costs a fetch; a branch that keeps moving
# this often is busier than a release should race with.
PUSH_ATTEMPTS = 5


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
    onto: str | None = None  # the remote branch's head the release commit was put on top of


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
        if not (where and _is_release_commit(repo, message) and not _on_remote(repo, where)):
            raise UserError(
                f"tag {name} exists already, on {existing.commit.hexsha[:7]}, not on HEAD "
                f"{repo.head.commit.hexsha[:7]}; version {parsed} was released from another commit"
            )
        # A tag never pushed, left on the release commit before `git pull --rebase` rewrote it.
        repo.create_tag(name, message=f"Release {parsed}", force=True)
    onto = _push(config, repo, where, str(parsed)) if where else None
    return ReleaseTag(
        name=name, sha=repo.head.commit.hexsha, committed=committed, pushed=push, onto=onto
    )


def _push(config: Config, repo: git.Repo, where: TagPush, version: str) -> str | None:
    """Push the tag (and the branch); the remote branch's head the release commit was moved onto
    when the branch had moved, else None."""
    import git

    onto = None
    for _ in range(PUSH_ATTEMPTS):
        refspecs = where.refspecs(f"refs/tags/{where.tag}")
        try:
            repo.git.push("--atomic", where.remote, *refspecs)
            return onto
        except git.GitCommandError as exc:
            failure = exc
        if _on_remote(repo, where):
            break  # another release of this version got there first: said below
        moved = remote_branch_moved(repo, where) if where.branch else None
        if moved is None:
            break
        problem = carry_problem(config, repo, repo.head.commit.parents[0].hexsha, moved)
        if problem:
            raise UserError(
                f"branch {where.branch} moved on {where.remote} during the release and {problem}; "
                f"the images of {version} are out, its tag is not: release the branch's new "
                f"head as a higher version than {version}"
            )
        _carry_release_commit(config, repo, where, version, moved)
        onto = moved
    else:
        raise UserError(
            f"branch {where.branch} on {where.remote} moved {PUSH_ATTEMPTS} times while the "
            f"release tag {where.tag} was pushed; the images of {version} are out, the tag is "
            "not: re-run the release to finish it"
        )
    failed = f"git push {where.remote} {' '.join(where.refspecs(f'refs/tags/{where.tag}'))} failed"
    if raced := _beaten(str(failure.stderr)):
        raise UserError(
            f"{failed}: {raced}: another release (or a push) reached {where.remote} first; the "
            "images are out, this release's tag and commit are not: update the checkout (git "
            "pull --rebase --tags) and re-run the release"
        ) from failure
    raise UserError(
        f"{failed}: {without_credentials(last_line(failure))}; the images are out, the tag is "
        "not: give the job push rights (GitHub: permissions contents: write; GitLab: a token "
        "with write_repository), then re-run the tag step"
    ) from failure


def remote_branch_moved(repo: git.Repo, where: TagPush) -> str | None:
    """The remote branch's head when it is not in HEAD's history (it moved since HEAD was
    fetched), else None. Fetched into FETCH_HEAD only: no local ref changes."""
    import git

    try:
        repo.git.fetch("--quiet", where.remote, f"refs/heads/{where.branch}")
    except git.GitCommandError:
        return None  # a branch not there yet, or a remote not reached: the push's error says
    head = repo.rev_parse("FETCH_HEAD").hexsha
    return None if repo.is_ancestor(head, repo.head.commit) else head


def carry_problem(config: Config, repo: git.Repo, built: str, onto: str) -> str | None:
    """Why a release of commit `built` cannot have its release commit put on top of `onto`,
    or None when it can: `onto` descends from it and changes nothing in the project."""
    if not repo.is_ancestor(built, onto):
        return f"its head {onto[:7]} does not contain the released commit {built[:7]}"
    project = project_path(config, repo)
    changed = repo.git.diff("--name-only", built, onto, "--", project).splitlines()
    if changed:
        return (
            f"its new commits change the project ({first_few(changed)}), which the released "
            "image was built without"
        )
    return None


def carried_release(config: Config, repo: git.Repo, built: str, version: str) -> bool:
    """HEAD is the release commit of `version` for a release of commit `built`, put on top of
    commits that leave the project alone (by this step, or by the user's `git pull --rebase`)."""
    head = repo.head.commit
    if not (_is_release_commit(repo, RELEASE_COMMIT.format(version=version)) and head.parents):
        return False
    return carry_problem(config, repo, built, head.parents[0].hexsha) is None


def _carry_release_commit(
    config: Config, repo: git.Repo, where: TagPush, version: str, onto: str
) -> None:
    """HEAD's release commit made again on top of `onto` (VERSION as HEAD has it, the rest as
    `onto` has it), the checkout moved there and the tag with it."""
    import git

    path = _version_path(config, repo)
    entry = repo.git.ls_tree("HEAD", "--", path)  # "<mode> blob <sha>\t<path>"
    mode, _, blob = entry.split("\t")[0].split()
    # A private index: the user's staged changes stay as they are.
    with tempfile.TemporaryDirectory() as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch, "index"))}
        repo.git.read_tree(onto, env=env)
        repo.git.update_index("--add", "--cacheinfo", f"{mode},{blob},{path}", env=env)
        tree = repo.git.write_tree(env=env)
    commit = repo.git.commit_tree(tree, "-p", onto, "-m", str(repo.head.commit.message))
    try:
        # Like `git pull --rebase`: files the remote changed are updated, local changes kept.
        repo.git.reset("--keep", commit)
    except git.GitCommandError as exc:
        raise UserError(
            f"branch {where.branch} moved on {where.remote}, and the checkout cannot move onto "
            f"it: {last_line(exc)}; commit or stash local changes, then re-run the release"
        ) from exc
    repo.create_tag(where.tag, message=f"Release {version}", force=True)


def _on_remote(repo: git.Repo, where: TagPush) -> bool:
    """The remote holds the release tag; False also when it cannot be asked (its push said why)."""
    import git

    try:
        return bool(repo.git.ls_remote("--tags", where.remote, f"refs/tags/{where.tag}"))
    except git.GitCommandError:
        return False


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
    return path.relative_to(Path(str(repo.working_tree_dir)).resolve()).as_posix()


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
