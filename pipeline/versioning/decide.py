"""The next version: VERSION, the release tags and the commits since the last one.

- VERSION holds the current version. Lower than the newest release tag reachable from HEAD is
  an error (the file is stale); not tagged yet (a first release, or a version set by hand) means
  `auto` releases it as it is.
- `auto`: the strongest conventional commit since the last release tag decides (see
  `commits.py`); none of feat/fix/perf/breaking means no release. While the major version is 0
  a breaking change bumps the minor version (0.x promises nothing, and 1.0.0 is a decision to
  take with `--bump major`), feat bumps minor and fix/perf patch.
- On a branch matching `version.prerelease_branches` (and with `--bump prerelease`) the result
  is `X.Y.Z-<prerelease_id>.N`, N one past the highest existing tag of X.Y.Z; commits are
  counted since the last tag of any kind, so an rc without new commits is not released again.
  Elsewhere commits are counted since the last stable tag and a prerelease VERSION is
  finalized (1.3.0-rc.2 plus fixes gives 1.3.0).
- Explicit `major`/`minor`/`patch` bump VERSION that way; `none` takes VERSION as it is.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.project.gitinfo import SHORT_SHA_LENGTH
from pipeline.project.worktree import first_few
from pipeline.versioning.commits import DecidingCommit, bump_of, strongest
from pipeline.versioning.current import read_current
from pipeline.versioning.history import History
from pipeline.versioning.image_tags import ImageTags, image_tags


@dataclass(frozen=True)
class VersionDecision:
    current: semver.Version
    version: semver.Version | None  # None: nothing to release
    bump: str  # what was applied: major, minor, patch, prerelease or none
    reason: str
    commits: list[DecidingCommit]  # the commits that asked for it (auto)
    last_tag: str | None
    branch: str | None
    sha: str
    image_tags: ImageTags | None

    @property
    def tags(self) -> list[str]:
        return self.image_tags.all if self.image_tags else []

    def as_dict(self) -> dict[str, Any]:
        return {
            "current": str(self.current),
            "next": str(self.version) if self.version else None,
            "release": self.version is not None,
            "bump": self.bump,
            "reason": self.reason,
            "commits": [commit.as_dict() for commit in self.commits],
            "last_tag": self.last_tag,
            "branch": self.branch,
            "sha": self.sha,
            "tags": self.tags,
            "held_tags": self.image_tags.held if self.image_tags else {},
        }


def write_version(config: Config, version: semver.Version | str) -> Path:
    path = config.path(config.version.file)
    path.write_text(f"{version}\n", encoding="utf-8")
    return path


def decide_version(config: Config, history: History) -> VersionDecision:
    """The next version of `config`'s project; `history` is read once by the caller
    (`read_history`), who may need it again (the push's moving tags)."""
    settings = config.version
    current = read_current(config)
    if settings.refuse_dirty:
        _refuse_changes(config, history)
    latest = history.latest()
    if latest and current < latest[1]:
        raise UserError(
            f"{config.path(settings.file)}: {current} is lower than the latest release tag "
            f"{latest[0]} reachable from HEAD, so any bump would go backwards; set it to "
            f"{latest[1]}"
        )
    prerelease = settings.bump == "prerelease" or _on_prerelease_branch(
        history.branch, settings.prerelease_branches
    )
    base = history.latest(stable_only=not prerelease)
    base_tag = base[0] if base else None
    pending = history.tag_of(current) is None
    commits = _deciding_commits(history, base_tag) if settings.bump == "auto" else []
    target, bump, reason = _target(config, current, pending, commits, base_tag)
    version = target
    if target is not None and not _as_it_is(settings.bump, pending, current, prerelease):
        if prerelease:
            version = _next_prerelease(target, settings.prerelease_id, history)
            if history.branch and settings.bump != "prerelease":
                reason += f"; a prerelease on branch {history.branch}"
        _refuse_existing(config, history, current, version)
    elif version is not None and settings.bump == "none":
        _refuse_tagged_elsewhere(history, version)
    tags = None
    if version is not None:
        released = history.releases.values()
        tags = image_tags(settings.image_tags, version, history.short_sha, released)
    return VersionDecision(
        current=current,
        version=version,
        bump=bump,
        reason=reason,
        commits=commits,
        last_tag=base_tag,
        branch=history.branch,
        sha=history.sha,
        image_tags=tags,
    )


def _target(
    config: Config,
    current: semver.Version,
    pending: bool,
    commits: list[DecidingCommit],
    base_tag: str | None,
) -> tuple[semver.Version | None, str, str]:
    """The release version before any prerelease suffix (None: no release), bump, reason."""
    requested = config.version.bump
    if requested == "none":
        return current, "none", "version.bump is none: VERSION as it is"
    if requested == "prerelease":
        target = current.finalize_version() if current.prerelease else current.bump_patch()
        return target, "prerelease", "version.bump is prerelease"
    if requested != "auto":
        return current.next_version(requested), requested, f"version.bump is {requested}"
    if pending:
        if not config.path(config.version.file).is_file():
            return current, "none", f"no {config.version.file} and no release tag: a first release"
        tag = f"{config.version.tag_prefix}{current}"
        return current, "none", f"VERSION {current} is not released yet (no tag {tag})"
    since = f"since {base_tag}" if base_tag else "in the history"
    kind = strongest([commit.bump for commit in commits])
    if kind is None:
        return None, "none", f"no feat, fix, perf or breaking commit {since}"
    why = f"{len(commits)} commit" + ("s" if len(commits) > 1 else "") + f" {since}"
    if kind == "major" and current.major == 0:
        kind, why = "minor", f"{why} (a breaking change while the major version is 0)"
    return current.next_version(kind), kind, f"{kind}: {why}"


def _as_it_is(requested: str, pending: bool, current: semver.Version, prerelease: bool) -> bool:
    """VERSION itself is released: asked for, or set by hand and fit for this branch."""
    if requested == "none":
        return True
    return requested == "auto" and pending and (bool(current.prerelease) or not prerelease)


def _deciding_commits(history: History, since_tag: str | None) -> list[DecidingCommit]:
    found = []
    for sha, message in history.commits_since(since_tag):
        bump = bump_of(message)
        if bump:
            subject = message.strip().splitlines()[0]
            found.append(DecidingCommit(sha[:SHORT_SHA_LENGTH], subject, bump))
    return found


def _on_prerelease_branch(branch: str | None, patterns: list[str]) -> bool:
    return branch is not None and any(fnmatch.fnmatchcase(branch, p) for p in patterns)


def _next_prerelease(target: semver.Version, identifier: str, history: History) -> semver.Version:
    numbered = re.compile(rf"{re.escape(identifier)}\.(\d+)")
    taken = [
        int(match[1])
        for version in history.releases.values()
        if version.finalize_version() == target.finalize_version()
        and version.prerelease
        and (match := numbered.fullmatch(version.prerelease))
    ]
    return target.finalize_version().replace(prerelease=f"{identifier}.{max(taken, default=0) + 1}")


def _refuse_existing(
    config: Config, history: History, current: semver.Version, version: semver.Version
) -> None:
    tag = history.tag_of(version)
    if tag is None:
        return
    where = "" if tag in history.reachable else ", on another branch (not reachable from HEAD)"
    raise UserError(
        f"version {version} is released already (tag {tag}{where}); "
        f"{config.path(config.version.file)} says {current}: set it to the latest "
        "release of this line, or choose another --bump"
    )


def _refuse_tagged_elsewhere(history: History, version: semver.Version) -> None:
    """`none` releases VERSION as it is, again on the commit its tag is on (a re-run), never on
    another: the tag step would refuse it after the images were pushed."""
    tag = history.tag_of(version)
    if tag is None:
        return
    tagged = history.repo.tags[tag].commit.hexsha
    if tagged == history.sha:
        return
    raise UserError(
        f"version {version} is released already: tag {tag} is on {tagged[:7]}, not on HEAD "
        f"{history.short_sha}; version.bump none releases VERSION as it is, so set VERSION to "
        "a new version or choose another --bump"
    )


def _refuse_changes(config: Config, history: History) -> None:
    version_file = Path(history.project_path, config.version.file).as_posix()
    # VERSION is what this step writes, so a re-run after a failed release is not refused.
    changed = history.changed_paths(ignore={version_file})
    if changed:
        raise UserError(
            f"{Path(str(history.repo.working_tree_dir))}: uncommitted changes to "
            f"{first_few(changed)}; "
            "version.refuse_dirty is set: commit or stash them first"
        )
