"""Semver parsing of versions and tags (`v1.2.3`, `1.2.3`) and picking the highest."""

from __future__ import annotations

from collections.abc import Iterable

import semver


def parse_version(text: str) -> semver.Version | None:
    """`1.2.3` or `v1.2.3` (a VERSION file, a flag); None when it is not semver."""
    text = text.strip()
    try:
        return semver.Version.parse(text[1:] if text[:1] in ("v", "V") else text)
    except ValueError:
        return None


def release_versions(tags: Iterable[str], prefix: str = "v") -> dict[str, semver.Version]:
    """Tags that are exactly `<prefix><semver>`, with their versions.

    Strict about the prefix, so that in a repository holding several projects (tag prefixes
    `churn-v`, `ranker-v`) one project's releases never count as another's.
    """
    found = {}
    for tag in tags:
        if tag.startswith(prefix):
            try:
                found[tag] = semver.Version.parse(tag[len(prefix) :])
            except ValueError:
                continue
    return found


def highest(tags: Iterable[str], prefix: str = "v") -> tuple[str, semver.Version] | None:
    """The tag holding the highest version, with that version; None when no tag is one."""
    return max(release_versions(tags, prefix).items(), key=lambda pair: pair[1], default=None)
