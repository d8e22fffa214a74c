"""Semver parsing of tags (`v1.2.3`, `1.2.3`) and picking the highest."""

from __future__ import annotations

from collections.abc import Iterable

import semver


def parse_tag(tag: str, prefix: str = "v") -> semver.Version | None:
    text = tag[len(prefix) :] if prefix and tag.startswith(prefix) else tag
    try:
        return semver.Version.parse(text)
    except ValueError:
        return None


def highest(tags: Iterable[str], prefix: str = "v") -> tuple[str, semver.Version] | None:
    """The tag holding the highest version, with that version; None when no tag is semver."""
    parsed = [(tag, version) for tag in tags if (version := parse_tag(tag, prefix)) is not None]
    return max(parsed, key=lambda pair: pair[1], default=None)
