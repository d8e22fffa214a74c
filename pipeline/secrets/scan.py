"""Scan what a build sends to the engine for secrets, before anything is built.

The files are the build context's after `.dockerignore`, as `pipeline.project.buildcontext`
read them for the whole command, plus the Dockerfile and `.dockerignore`, which Docker always
sends. Every file is read whole, in line-aligned chunks, except the formats of tensors and
media (by extension or first bytes), which are judged by name; archives (tar, compressed or
not, and zip) are read member by member, nested ones too, within a bound on what they unpack
to. The measured cost is in README.md.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from pipeline.config.schema import Config
from pipeline.core.errors import CheckFailed
from pipeline.project.buildcontext import BuildContext
from pipeline.secrets.detect import (
    DER_LIMIT,
    Hit,
    NameRule,
    der_private_key,
    index_url_hits,
    name_rule,
    token_hits,
)

CHUNK = 8 * 1024 * 1024  # read at a time, extended to the end of its line
LONG_LINE = 1024 * 1024  # a line longer than this is cut (minified or binary data)
# Formats holding tensors or media: no credential is readable inside them as text.
SKIPPED_SUFFIXES = frozenset(
    {
        *(".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".hdf5", ".keras"),
        *(".pb", ".tflite", ".gguf", ".ggml", ".joblib", ".pkl", ".pickle", ".npy", ".npz"),
        *(".parquet", ".arrow", ".feather", ".msgpack", ".model", ".engine", ".plan"),
        *(".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp3", ".mp4", ".wav", ".flac", ".avi"),
        *(".mov", ".pdf", ".so", ".dylib", ".dll", ".exe"),
    }
)
# The same formats known by their first bytes, under any name.
_WEIGHT_MAGICS = (b"GGUF", b"\x89HDF", b"\x93NUMPY", b"\x80\x04", b"PAR1")
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_ZIP_SUFFIXES = (".zip", ".whl", ".jar")
ARCHIVE_LIMIT = 1024 * 1024 * 1024  # unpacked bytes read from one archive, nested ones included
MEMBER_LIMIT = 100_000
NESTED_LIMIT = 64 * 1024 * 1024  # a nested archive is opened in memory up to this size
NESTED_DEPTH = 2
WORKERS = min(8, os.cpu_count() or 1)
# Always sent to the builder, whatever .dockerignore says.
ALWAYS_SENT = (".dockerignore",)


@dataclass(frozen=True)
class Finding:
    path: str  # as the engine sees it: relative to the context, "/"-separated
    what: str  # the kind: what secrets.allow names
    line: int | None = None
    shown: str | None = None  # masked: never the value itself
    ignore_line: str | None = None  # the .dockerignore line leaving it out; None: always sent
    member: str | None = None  # the archive member holding it
    reincluded_by: str | None = None  # the "!" line of .dockerignore that sends the file
    remedy: str | None = None  # where leaving the file out is not the fix

    def summary(self) -> str:
        return self.what + (f" ({self.shown})" if self.shown else "")

    def describe(self) -> str:
        """What was found and where in the file, without the file's name."""
        where = [f"in {self.member}"] if self.member else []
        where += [f"line {self.line}"] if self.line is not None else []
        return (
            ", ".join([*where, self.summary()])
            if not where
            else f"{', '.join(where)}: " + (self.summary())
        )

    def fix(self) -> str:
        if self.remedy is not None:
            return self.remedy
        if self.ignore_line is None:
            return "remove the secret from it (the build always sends this file)"
        if self.reincluded_by is not None:
            return (
                f"remove the line `!{self.reincluded_by}` from .dockerignore, which sends the "
                "file; give the values to the container at run time instead"
            )
        return f"add `{self.ignore_line}` to .dockerignore, or move the file out of the context"


@dataclass(frozen=True)
class Allowance:
    """One reviewed finding that is no secret: `secrets.allow` in pipeline.yaml."""

    path: str  # the file, relative to the build context
    finding: str  # its kind, as the finding names it: "GitHub token", ".env entry API_KEY"

    def covers(self, finding: Finding) -> bool:
        return self.path == finding.path and self.finding == finding.what


def allowances(config: Config) -> tuple[Allowance, ...]:
    return tuple(Allowance(entry["path"], entry["finding"]) for entry in config.secrets.allow)


def allowed(findings: Sequence[Finding], allow: Sequence[Allowance]) -> list[Finding]:
    """`findings` less those an allowance covers."""
    return [f for f in findings if not any(a.covers(f) for a in allow)]


def scan_context(build: BuildContext, allow: Sequence[Allowance] = ()) -> list[Finding]:
    """Every secret, by name or by content, in what `build` sends to the engine, but those
    `allow` covers; in path order."""
    context_dir = build.context
    files = dict.fromkeys(build.files)
    always = [*ALWAYS_SENT, _relative(build.dockerfile, context_dir)]
    files.update(dict.fromkeys(name for name in always if (context_dir / name).is_file()))
    always_sent = set(always)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = pool.map(
            lambda relative: _scan_file(build, relative, relative in always_sent),
            sorted(files),
        )
        return allowed([finding for found in results for finding in found], allow)


def check_build_context(build: BuildContext, allow: Sequence[Allowance] = ()) -> None:
    """The build step's gate: raises CheckFailed (exit 2) naming every secret-holding file and
    the .dockerignore line that leaves it out, before anything is built or pushed."""
    findings = scan_context(build, allow)
    if findings:
        raise CheckFailed(secrets_message(build.context, findings))


def secrets_message(context_dir: Path, findings: list[Finding]) -> str:
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.path, []).append(finding)
    lines = [
        f"the build context {context_dir} holds secrets that would go to the builder and into "
        f"the image ({len(by_file)} file(s)); nothing was built:"
    ]
    for path, found in by_file.items():
        what = "; ".join(finding.describe() for finding in found)
        lines.append(f"  {path}: {what}; {found[0].fix()}")
    lines.append("pass secrets a build needs with RUN --mount=type=secret, never in the context")
    lines.append(allow_advice(findings[0]))
    return "\n".join(lines)


def allow_advice(example: Finding) -> str:
    return (
        "a finding that is no secret: allow exactly it in pipeline.yaml, e.g. secrets.allow: "
        f'[{{path: "{example.path}", finding: "{example.what}"}}]'
    )


def _relative(path: Path, context_dir: Path) -> str:
    try:
        return path.resolve().relative_to(context_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _scan_file(build: BuildContext, relative: str, always_sent: bool) -> list[Finding]:
    path = build.context / relative
    try:
        info = path.lstat()
    except OSError:
        return []
    # The engine sends a symlink as a link, and fifos or sockets not at all: never read them.
    if not stat.S_ISREG(info.st_mode):
        return []
    rule = name_rule(relative)
    ignore_line = None if always_sent else _ignore_line(relative, rule)
    deciding = build.ignore.deciding(build.ignore.hits(relative))
    base = Finding(
        relative,
        "",
        ignore_line=ignore_line,
        reincluded_by=deciding.text if deciding is not None and deciding.exclusion else None,
    )
    if rule is not None and rule.what is not None:
        return [replace(base, what=rule.what)]
    if rule is None and _skipped(relative):
        return []
    try:
        with path.open("rb") as handle:
            found = list(_file_hits(handle, relative, rule, info.st_size, 0))
    except OSError:
        return []
    return [
        replace(
            base,
            what=hit.what,
            line=hit.line,
            shown=hit.shown,
            member=member,
            remedy=hit.fix,
        )
        for member, hit in found
    ]


# (archive member or None, hit)
Located = tuple[str | None, Hit]


def _skipped(name: str) -> bool:
    return Path(name).suffix.lower() in SKIPPED_SUFFIXES


def _file_hits(
    handle: IO[bytes], name: str, rule: NameRule | None, size: int, depth: int
) -> Iterator[Located]:
    """The hits in one file, or in each member of an archive."""
    head = handle.read(512)
    handle.seek(0)
    if rule is None and head.startswith(_WEIGHT_MAGICS):
        return
    archive = _open_archive(handle, name.lower(), head)
    if archive is not None:
        with archive:
            yield from _archive_hits(_members(archive), depth)
        return
    if size <= DER_LIMIT and head[:1] == b"\x30":
        what = der_private_key(handle.read())
        handle.seek(0)
        if what:
            yield None, Hit(what)
            return
    for hit in _stream_hits(handle, rule):
        yield None, hit


Members = Iterator[tuple[str, int, Callable[[], IO[bytes]]]]


def _open_archive(
    handle: IO[bytes], name: str, head: bytes
) -> zipfile.ZipFile | tarfile.TarFile | None:
    """The archive `handle` is, by its name or its magic bytes; None when it is none."""
    try:
        if name.endswith(_ZIP_SUFFIXES) or head.startswith(b"PK\x03\x04"):
            return zipfile.ZipFile(handle)
        if name.endswith(_TAR_SUFFIXES) or head[257:262] == b"ustar":
            return tarfile.open(fileobj=handle, mode="r:*")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError):
        handle.seek(0)  # not one after all: read as a file
    return None


def _members(archive: zipfile.ZipFile | tarfile.TarFile) -> Members:
    if isinstance(archive, zipfile.ZipFile):
        for info in archive.infolist():
            if not info.is_dir():
                yield info.filename, info.file_size, lambda info=info: archive.open(info)
        return
    for member in archive:
        if member.isfile():
            yield member.name, member.size, lambda member=member: archive.extractfile(member)


class _TooLarge(Exception):
    """An archive unpacks to more than the scan reads."""


def _archive_hits(members: Members, depth: int) -> Iterator[Located]:
    """Each member judged by its name, then read as a file is; nested archives opened in memory
    up to NESTED_DEPTH. Past ARCHIVE_LIMIT or MEMBER_LIMIT, a finding says so: what is not read
    is not known to be clean."""
    budget = ARCHIVE_LIMIT
    try:
        for count, (name, size, open_member) in enumerate(members):
            budget -= size
            if count >= MEMBER_LIMIT or budget < 0:
                raise _TooLarge
            rule = name_rule(name)
            if rule is not None and rule.what is not None:
                yield name, Hit(rule.what)
                continue
            if rule is None and _skipped(name):
                continue
            try:
                member = open_member()
            except (OSError, RuntimeError, tarfile.TarError, zipfile.BadZipFile):
                continue  # encrypted or damaged: nothing readable in it
            if member is None:
                continue
            with member:
                nested = name.lower().endswith(_ZIP_SUFFIXES + _TAR_SUFFIXES)
                if nested and depth < NESTED_DEPTH and size <= NESTED_LIMIT:
                    found = _file_hits(io.BytesIO(member.read()), name, rule, size, depth + 1)
                else:
                    found = ((None, hit) for hit in _stream_hits(member, rule))
                for inner, hit in found:
                    yield (f"{name}:{inner}" if inner else name), hit
    except _TooLarge:
        limit = f"{ARCHIVE_LIMIT // 1024**3} GiB or {MEMBER_LIMIT} files"
        yield None, Hit(f"archive larger than the scan reads ({limit} unpacked)")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        yield None, Hit(f"archive that cannot be read whole ({exc})")


def _stream_hits(handle: IO[bytes], rule: NameRule | None) -> Iterator[Hit]:
    """Every hit in what `handle` reads, in chunks that end at a line's end, so each line is
    searched whole and numbered."""
    first_line = 1
    seen: set[int | None] = set()
    while chunk := handle.read(CHUNK):
        if not chunk.endswith(b"\n"):
            chunk += handle.readline(LONG_LINE)
        # An index URL's own fix first: its token is the same secret, on the same line.
        hits = list(index_url_hits(chunk, first_line))
        if rule is not None and rule.content is not None:
            hits += [replace(h, line=(h.line or 1) + first_line - 1) for h in rule.content(chunk)]
        hits += token_hits(chunk, first_line)
        # One finding per line: an .env entry holding a known token format is one secret.
        for hit in hits:
            if hit.line is None or hit.line not in seen:
                seen.add(hit.line)
                yield hit
        first_line += chunk.count(b"\n")


def _ignore_line(relative: str, rule: NameRule | None) -> str:
    """A line that leaves the file out: its kind anywhere (`**/.env`), else its own path."""
    return relative if rule is None else f"**/{rule.glob}"
