"""The image tags of a version, from the `version.image_tags` templates.

Placeholders: {version} {major} {minor} {patch} {prerelease} {build} {sha}. A template with
{version}, {patch}, {prerelease}, {build} or {sha} names one image and is *fixed*; any other
(`latest`, `{major}`, `{major}.{minor}`) is *moving* and follows the newest release in its
scope: `{major}.{minor}` the newest release of that minor line, `{major}` of that major line,
a template without placeholders the newest of all. So a backport 1.4.3 released after 2.0.0
moves `1.4` (and `1` when no 1.5+ exists) but never `latest`; a prerelease moves nothing.

Build metadata (`1.2.3+build.5`) becomes `1.2.3_build.5`: `+` is not allowed in a Docker tag,
`_` is, and `-` would turn the build into a prerelease for anyone reading the tag back
(docker/metadata-action makes the same choice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import semver

from pipeline.config.tagtemplates import FIXED_PLACEHOLDERS, placeholders, render, tag_values
from pipeline.distribution.reference import ImageRef
from pipeline.project.gitinfo import SHORT_SHA_LENGTH, GitInfo


@dataclass(frozen=True)
class ImageTags:
    fixed: list[str]  # pushed first
    moving: list[str]  # pushed last, only when everything fixed is in place
    held: dict[str, str] = field(default_factory=dict)  # moving tags left alone, and why

    @property
    def all(self) -> list[str]:
        return self.fixed + self.moving


def candidate_tag(git: GitInfo) -> str:
    """The tag the build pushes a commit's image as, which smoke tests and push promotes.

    The clean tag names exactly the commit: a dirty build never takes it.
    """
    return commit_tag(git.sha) + ("-dirty" if git.dirty else "")


def commit_tag(sha: str) -> str:
    """The clean candidate tag of commit `sha`: what a patch looks for on ancestor commits."""
    return f"sha-{sha[:SHORT_SHA_LENGTH]}"


def stage_tag(sha: str, stage: str) -> str:
    """The tag a build pushes one stage of commit `sha` as, to splice its layer in."""
    return f"{commit_tag(sha)}-stage-{stage}"


def candidate(repository: ImageRef, source: GitInfo) -> ImageRef:
    """The candidate image of `source` in `repository`: the one name build pushes, smoke tests by
    default and push promotes by default (which refuses a dirty one: it releases commits)."""
    return repository.with_tag(candidate_tag(source))


def image_tags(
    templates: list[str], version: semver.Version, sha: str, released: Iterable[semver.Version]
) -> ImageTags:
    """Tags for `version`; `released` are the versions already out (git tags, registry tags)."""
    stable = [v for v in released if not v.prerelease]
    values = tag_values(version, sha)
    fixed: list[str] = []
    moving: list[str] = []
    held: dict[str, str] = {}
    for template in templates:
        names = placeholders(template)
        tag = render(template, values)
        if names & FIXED_PLACEHOLDERS:
            fixed.append(tag)
        elif reason := _why_held(names, version, stable):
            held[tag] = reason
        else:
            moving.append(tag)
    moving = [tag for tag in dict.fromkeys(moving) if tag not in fixed]
    return ImageTags(list(dict.fromkeys(fixed)), moving, held)


def _why_held(names: set[str], version: semver.Version, stable: list[semver.Version]) -> str | None:
    if version.prerelease:
        return f"{version} is a prerelease"
    if "minor" in names:
        scope = [v for v in stable if (v.major, v.minor) == (version.major, version.minor)]
    elif "major" in names:
        scope = [v for v in stable if v.major == version.major]
    else:
        scope = stable
    newer = max((v for v in scope if v > version), default=None)
    return f"{newer} is newer" if newer else None
