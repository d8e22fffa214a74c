"""What a `version.image_tags` template may say, and the tag it gives for a version.

Placeholders: {version} {major} {minor} {patch} {prerelease} {build} {sha}; a template with one of
FIXED_PLACEHOLDERS names one image. The loader checks the templates with these, `versioning`
renders them: one grammar for both.
"""

from __future__ import annotations

import re
import string

import semver

from pipeline.core.errors import UserError

DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
PLACEHOLDERS = ("version", "major", "minor", "patch", "prerelease", "build", "sha")
FIXED_PLACEHOLDERS = {"version", "patch", "prerelease", "build", "sha"}


def docker_safe(version: semver.Version) -> str:
    return str(version).replace("+", "_")


def tag_values(version: semver.Version, sha: str) -> dict[str, str]:
    """What each placeholder stands for in the tags of `version` built from commit `sha`."""
    return {
        "version": docker_safe(version),
        "major": str(version.major),
        "minor": str(version.minor),
        "patch": str(version.patch),
        "prerelease": version.prerelease or "",
        "build": version.build or "",
        "sha": sha,
    }


def placeholders(template: str) -> set[str]:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise UserError(f"version.image_tags: {template!r}: {exc}") from exc
    unknown = names - set(PLACEHOLDERS)
    if unknown:
        raise UserError(
            f"version.image_tags: {template!r}: unknown placeholder {{{sorted(unknown)[0]}}}; "
            f"known: {', '.join('{' + name + '}' for name in PLACEHOLDERS)}"
        )
    return names


def render(template: str, values: dict[str, str]) -> str:
    tag = template.format(**values)
    if not DOCKER_TAG.fullmatch(tag):
        raise UserError(
            f"version.image_tags: {template!r} gives {tag!r}, not a valid Docker tag "
            "(letters, digits, _ . -; not starting with . or -; at most 128 characters)"
        )
    return tag
