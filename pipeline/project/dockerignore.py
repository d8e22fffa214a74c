"""`.dockerignore` with Docker's own semantics, and the walk of what a build context sends.

Ported from moby/patternmatcher (`ignorefile.ReadAll` and `MatchesOrParentMatches`), which
both the classic builder and BuildKit use. Unlike .gitignore, a pattern is anchored at the
context root (`.env` does not exclude `sub/.env`; `**/.env` does), a pattern that matches a
directory excludes everything below it, and the last matching pattern wins, so `!keep`
re-includes what an earlier line excluded.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Regex metacharacters Go's filepath.Match treats literally (patternmatcher's shouldEscape).
_LITERAL = frozenset(".+()|{}$")

Hits = tuple[bool, ...]


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool  # a "!" line: re-includes what matches
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        return self.regex.match(path) is not None


@dataclass(frozen=True)
class DockerIgnore:
    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def read(cls, path: Path | None) -> DockerIgnore:
        if path is None:
            return cls()
        return cls.parse(path.read_text(encoding="utf-8-sig", errors="replace"))

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns = []
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            line = line.strip()
            exclusion = line.startswith("!")
            line = line.removeprefix("!").strip()
            if not line:
                continue
            cleaned = posixpath.normpath(line).lstrip("/") or "/"
            patterns.append(Pattern(cleaned, exclusion, _compile(cleaned)))
        return cls(tuple(patterns))

    def hits(self, path: str, parent: Hits | None = None) -> Hits:
        """Per pattern: whether it matches `path` or a directory above it.

        `parent` is the result for the directory holding `path`; a walk passes it down so each
        path is matched once (moby's MatchesUsingParentResults), else it is computed here.
        """
        if parent is None:
            head = path.rpartition("/")[0]
            parent = self.hits(head) if head else (False,) * len(self.patterns)
        return tuple(
            above or pattern.matches(path)
            for above, pattern in zip(parent, self.patterns, strict=True)
        )

    def excluded(self, hits: Hits) -> bool:
        """Docker's verdict: the last pattern that hits decides; a "!" one keeps the path."""
        last = self.deciding(hits)
        return last is not None and not last.exclusion

    def deciding(self, hits: Hits) -> Pattern | None:
        """The pattern that decides: the last one that hits."""
        return next(
            (p for p, hit in zip(reversed(self.patterns), reversed(hits), strict=True) if hit),
            None,
        )

    def excludes(self, path: str) -> bool:
        """Whether the context-relative `path` (with "/") is left out of the build context."""
        return self.excluded(self.hits(path))

    def may_reinclude_below(self, directory: str) -> bool:
        """Whether some "!" pattern could match a path inside the excluded `directory`.

        When none can, the walk skips the directory, as Docker does for `.git` or
        `node_modules`: nothing below it reaches the build.
        """
        parts = directory.split("/")
        return any(
            pattern.exclusion and _may_match_below(pattern.text.split("/"), parts)
            for pattern in self.patterns
        )


def find_dockerignore(dockerfile: Path, context: Path) -> Path | None:
    """The ignore file a build reads: BuildKit's `<Dockerfile>.dockerignore` beside the
    Dockerfile first, then `.dockerignore` at the context root (all the classic builder reads).
    """
    candidates = (
        dockerfile.with_name(dockerfile.name + ".dockerignore"),
        context / ".dockerignore",
    )
    return next((path for path in candidates if path.is_file()), None)


def context_files(context: Path, ignore: DockerIgnore) -> Iterator[str]:
    """Context-relative paths of the files a build would send, never entering pruned dirs."""
    directory_hits: dict[Path, Hits] = {context: (False,) * len(ignore.patterns)}
    for directory, dirnames, filenames in os.walk(context):
        here = Path(directory)
        above = directory_hits.pop(here)
        relative = here.relative_to(context).as_posix()
        prefix = "" if relative == "." else relative + "/"
        kept = []
        for name in sorted(dirnames):
            hits = ignore.hits(prefix + name, above)
            if not ignore.excluded(hits) or ignore.may_reinclude_below(prefix + name):
                directory_hits[here / name] = hits
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not ignore.excluded(ignore.hits(prefix + name, above)):
                yield prefix + name


def _may_match_below(pattern: list[str], directory: list[str]) -> bool:
    for depth, name in enumerate(directory):
        if depth >= len(pattern):
            return False
        if "**" in pattern[depth]:
            return True
        if not _compile(pattern[depth]).match(name):
            return False
    return True


def _compile(pattern: str) -> re.Pattern[str]:
    """patternmatcher's translation of a pattern to an anchored regular expression."""
    suffix = pattern[2:]
    if pattern.startswith("**") and not any(char in suffix for char in "*?[]\\"):
        # Go matches these with strings.HasSuffix, so `**foo` also matches `barfoo`.
        if suffix.startswith("/"):
            return re.compile("(.*/)?" + re.escape(suffix[1:]) + r"\Z", re.DOTALL)
        return re.compile(".*" + re.escape(suffix) + r"\Z", re.DOTALL)
    regex = ""
    position = 0
    while position < len(pattern):
        char = pattern[position]
        position += 1
        if char == "*" and pattern[position : position + 1] == "*":
            position += 1
            if pattern[position : position + 1] == "/":
                position += 1  # `**/` is `**`
            # `**` at the end matches everything; elsewhere any number of directories.
            regex += ".*" if position == len(pattern) else "(.*/)?"
        elif char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char in _LITERAL:
            regex += "\\" + char
        elif char == "\\" and position < len(pattern):
            regex += re.escape(pattern[position])
            position += 1
        elif char == "\\":
            regex += "\\\\"
        else:
            regex += char if char in "[]^-" else re.escape(char)
    try:
        return re.compile(regex + r"\Z", re.DOTALL)
    except re.error:
        # Docker refuses such a file; as a linter, treat the line as matching nothing.
        return re.compile(r"(?!)")
