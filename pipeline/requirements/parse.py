"""Read a requirements file the way pip does, with its includes; the entries other sources make.

Each entry keeps its text as written (whitespace aside), so a requirement re-emitted elsewhere
means to pip exactly what it meant in its source.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from pipeline.core.errors import UserError
from pipeline.requirements.annotations import via_annotations

# pip options a requirements file may hold, long form -> whether it takes a value
_FILE_OPTIONS = {
    "--requirement": True, "--constraint": True, "--editable": True, "--index-url": True,
    "--extra-index-url": True, "--no-index": False, "--find-links": True,
    "--trusted-host": True, "--pre": False, "--prefer-binary": False, "--only-binary": True,
    "--no-binary": True, "--require-hashes": False,
}  # fmt: skip
_REQUIREMENT_OPTIONS = {"--hash": True}
_SHORT_OPTIONS = {
    "-r": "--requirement", "-c": "--constraint", "-e": "--editable", "-i": "--index-url",
    "-f": "--find-links",
}  # fmt: skip
# An include's flag -> whether pip reads the included entries as constraints.
_INCLUDES = {"--requirement": False, "--constraint": True}

_COMMENT = re.compile(r"(^|\s+)#.*$")  # pip's rule: a `#` starts a comment after whitespace
_OPTIONS_START = re.compile(r"\s+(?=-)")
_SPACE_OUTSIDE_QUOTES = re.compile(r"\"[^\"]*\"|'[^']*'|\s+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_VCS_SCHEME = re.compile(r"(git|hg|svn|bzr)(\+|$)")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_HASH = re.compile(r"[a-z0-9]+:[0-9a-fA-F]+")
_HASH_FRAGMENT = re.compile(r"(^|&)(md5|sha1|sha224|sha256|sha384|sha512)=")
_MARKER_SEPARATOR = re.compile(r"\s*;\s*")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


@dataclass(frozen=True)
class Entry:
    """One requirement or constraint as pip reads it, and where it was written."""

    text: str  # as written, whitespace-normalized, without its options
    name: str | None  # canonical; None for a local path or URL that does not say its name
    marker: str
    pinned: bool
    origin: str  # "file:line", for messages
    hashes: tuple[str, ...] = ()
    editable: bool = False
    constraint: bool = False
    # Canonical names of the packages that need this one, from a lock file's `# via`
    # annotation; None where the file says nothing (a hand-written file).
    via: tuple[str, ...] | None = None

    @property
    def line(self) -> str:
        requirement = f"-e {self.text}" if self.editable else self.text
        return " ".join([requirement, *(f"--hash={value}" for value in self.hashes)])

    @property
    def label(self) -> str:
        return self.name or self.text

    def sort_key(self) -> tuple[bool, str, str, str]:
        return (self.name is None, self.label, self.marker, self.line)


@dataclass(frozen=True)
class Option:
    """A global pip option line such as `--extra-index-url URL`."""

    flag: str  # long form
    value: str | None
    base_dir: Path  # directory of the file that holds it


@dataclass(frozen=True)
class Requirements:
    source: Path
    entries: list[Entry]
    options: list[Option]
    # What reading left out or could not carry (unselected groups, conda packages): said, not
    # silent.
    warnings: list[str] = field(default_factory=list)


def display_path(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def read_requirements_file(path: Path, root: Path | None = None) -> Requirements:
    """Every entry and option pip would read from the requirements file `path`."""
    reader = _Reader(root or path.parent)
    reader.read(path, constraint=False, where=None)
    return Requirements(path, reader.entries, reader.options)


def read_pip_lines(path: Path, lines: list[str], where: str, root: Path) -> Requirements:
    """Requirements-file lines written inside another file (conda's `pip:` section)."""
    reader = _Reader(root)
    for index, line in enumerate(lines):
        text = _COMMENT.sub("", line).strip()
        if text:
            reader.line(text, f"{where}[{index}]", path.parent)
    return Requirements(path, reader.entries, reader.options)


class _Reader:
    """Follows `-r`/`-c` includes like pip, collecting entries and global options."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: list[Entry] = []
        self.options: list[Option] = []
        self._chain: list[Path] = []

    def display(self, path: Path) -> str:
        return display_path(path, self.root)

    def read(self, path: Path, constraint: bool, where: str | None) -> None:
        resolved = path.resolve()
        if resolved in self._chain:
            loop = [*self._chain[self._chain.index(resolved) :], resolved]
            raise UserError(f"{where}: include loop: {' -> '.join(map(self.display, loop))}")
        text = read_text(path, f"{where}: {self.display(path)}" if where else self.display(path))
        self._chain.append(resolved)
        first = len(self.entries)
        for number, line in _logical_lines(text):
            self.line(line, f"{self.display(path)}:{number}", path.parent, constraint)
        self._annotate(first, f"{self.display(path)}:", via_annotations(text))
        self._chain.pop()

    def _annotate(self, first: int, prefix: str, annotations: dict[int, tuple[str, ...]]) -> None:
        """Give this file's entries (from index `first`) the `# via` names written under them."""
        for index in range(first, len(self.entries)):
            entry = self.entries[index]
            line = entry.origin.removeprefix(prefix)
            if entry.origin.startswith(prefix) and line.isdigit() and int(line) in annotations:
                self.entries[index] = replace(entry, via=annotations[int(line)])

    def line(self, line: str, where: str, base_dir: Path, constraint: bool = False) -> None:
        if not line.startswith("-"):
            self._add(_requirement(line, where), constraint)
            return
        tokens = _shell_split(line, where)
        while tokens:
            flag, value = _take_option(tokens, _FILE_OPTIONS, where)
            if flag in _INCLUDES and value is not None:
                if _SCHEME.match(value):
                    raise UserError(f"{where}: {flag} {value}: remote includes are not supported")
                self.read(base_dir / value, _INCLUDES[flag], where)
            elif flag == "--editable" and value is not None:
                self._add(replace(_reference(value, where), editable=True), constraint)
            else:
                self.options.append(Option(flag, value, base_dir))

    def _add(self, entry: Entry, constraint: bool) -> None:
        if constraint and (entry.editable or entry.name is None):
            raise UserError(
                f"{entry.origin}: {entry.line!r}: pip takes only named, non-editable"
                " requirements as constraints"
            )
        self.entries.append(replace(entry, constraint=constraint))


def read_text(path: Path, label: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise UserError(f"{label}: no such file") from exc
    except OSError as exc:
        raise UserError(f"{label}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{label}: not UTF-8 text: {exc.reason}") from exc


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each line pip reads: `\\` continuations joined, comments out."""
    start, parts = 0, []
    # The empty line after the last one closes a continuation left open there.
    for number, physical in enumerate([*text.splitlines(), ""], 1):
        if not parts:
            start = number
        # A comment line ends a continuation, as in pip (pip-compile puts `# via` there).
        if physical.endswith("\\") and not _COMMENT.match(physical):
            parts.append(physical[:-1])
            continue
        parts.append(" " + physical if _COMMENT.match(physical) else physical)
        line = _COMMENT.sub("", "".join(parts)).strip()
        parts = []
        if line:
            yield start, line


def _shell_split(text: str, where: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UserError(f"{where}: cannot parse {text!r}: {exc}") from exc


def _take_option(tokens: list[str], known: dict[str, bool], where: str) -> tuple[str, str | None]:
    """Pop one option: `-i URL`, `-iURL`, `--index-url URL` or `--index-url=URL`."""
    token = tokens.pop(0)
    if token.startswith("--"):
        flag, equals, value = token.partition("=")
        inline = value if equals else None
    else:
        flag, inline = token[:2], token[2:] or None
    flag = _SHORT_OPTIONS.get(flag, flag)
    if flag not in known:
        raise UserError(f"{where}: unsupported option {token!r} here")
    if not known[flag]:
        if inline is not None:
            raise UserError(f"{where}: {flag} takes no value")
        return flag, None
    if inline is None and not tokens:
        raise UserError(f"{where}: {flag} needs a value")
    return flag, inline if inline is not None else tokens.pop(0)


def _requirement(line: str, where: str) -> Entry:
    """A requirement line: the spec, then pip's per-requirement options (`--hash` only)."""
    spec, *rest = _OPTIONS_START.split(line, maxsplit=1)
    tokens = _shell_split(rest[0], where) if rest else []
    hashes = []
    while tokens:
        _, value = _take_option(tokens, _REQUIREMENT_OPTIONS, where)
        if not (value and _HASH.fullmatch(value)):
            raise UserError(f"{where}: --hash={value}: expected ALGORITHM:HEXDIGEST")
        hashes.append(value)
    entry = _reference(spec, where) if looks_unnamed(spec) else named_entry(spec, where)
    return replace(entry, hashes=tuple(hashes))


def looks_unnamed(spec: str) -> bool:
    """A URL or local path without `name @`, which pip accepts on its own."""
    head = spec.split(";", 1)[0].strip()
    if _SCHEME.match(head) or head.startswith((".", "/", "~")):
        return True
    return "@" not in head and ("/" in head or head.lower().endswith(_ARCHIVE_SUFFIXES))


def named_entry(spec: str, where: str) -> Entry:
    text = _normalize_space(spec)
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise UserError(f"{where}: cannot parse {text!r}: {exc}") from exc
    if requirement.url:
        pinned = _reference_pinned(requirement.url)
    else:
        pinned = _specifier_pinned(requirement.specifier)
    name = canonicalize_name(requirement.name)
    return Entry(text, name, str(requirement.marker or ""), pinned, where)


def _reference(spec: str, where: str) -> Entry:
    text = _normalize_space(spec)
    location, *marker_text = _MARKER_SEPARATOR.split(text, maxsplit=1)
    try:
        marker = str(Marker(marker_text[0])) if marker_text else ""
    except InvalidMarker as exc:
        raise UserError(f"{where}: cannot parse {text!r}: {exc}") from exc
    return Entry(text, _reference_name(location, where), marker, _reference_pinned(location), where)


def _reference_name(location: str, where: str) -> str | None:
    """The name pip would know before building: `#egg=name`, or a wheel or sdist file name."""
    parts = urlsplit(location)
    egg = parse_qs(parts.fragment).get("egg")
    if egg:
        try:
            return canonicalize_name(Requirement(egg[0]).name)
        except InvalidRequirement as exc:
            raise UserError(f"{where}: #egg={egg[0]}: not a project name: {exc}") from exc
    return _archive_name(parts.path)


def _archive_name(path: str) -> str | None:
    filename = unquote(path.rstrip("/").rpartition("/")[2])
    try:
        return parse_wheel_filename(filename)[0]
    except InvalidWheelFilename:
        pass
    try:
        return parse_sdist_filename(filename)[0]
    except InvalidSdistFilename:
        return None


def _reference_pinned(location: str) -> bool:
    """A VCS ref pinned to a commit, or an archive whose file name or URL fixes its content."""
    parts = urlsplit(location)
    if _VCS_SCHEME.match(parts.scheme):
        return bool(_COMMIT.fullmatch(parts.path.rpartition("@")[2]))
    return bool(_HASH_FRAGMENT.search(parts.fragment)) or _archive_name(parts.path) is not None


def _specifier_pinned(specifier: SpecifierSet) -> bool:
    return any(
        spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*"))
        for spec in specifier
    )


def _normalize_space(text: str) -> str:
    """Collapse whitespace runs to one space, except inside quoted marker values."""
    return _SPACE_OUTSIDE_QUOTES.sub(lambda m: m[0] if m[0][0] in "\"'" else " ", text.strip())
