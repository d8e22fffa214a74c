"""Scan what a build sends to the engine for secrets, before anything is built.

The files are the build context's after `.dockerignore`, as `pipeline.project.buildcontext`
read them for the whole command, plus the Dockerfile and `.dockerignore`, which Docker always
sends. Reading is budgeted so a context of model weights scans in seconds: weight, archive and
media formats (by extension or magic bytes) and binary files are judged by name only, and a
large text file is read at its head and tail, where credentials and config blocks sit, not in
between.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import CheckFailed
from pipeline.project.buildcontext import BuildContext
from pipeline.secrets.detect import Hit, NameRule, name_rule, token_hits

CHUNK = 64 * 1024  # the head and the tail read of a large file
WHOLE_LIMIT = 1024 * 1024  # text files up to this size are read whole
# Formats holding tensors, archives or media: no credential is readable inside them as text.
SKIPPED_SUFFIXES = frozenset(
    {
        *(".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".hdf5", ".keras"),
        *(".pb", ".tflite", ".gguf", ".ggml", ".joblib", ".pkl", ".pickle", ".npy", ".npz"),
        *(".parquet", ".arrow", ".feather", ".msgpack", ".model", ".engine", ".plan"),
        *(".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".whl"),
        *(".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp3", ".mp4", ".wav", ".flac", ".avi"),
        *(".mov", ".pdf", ".so", ".dylib", ".dll", ".exe"),
    }
)
_MAGICS = (b"GGUF", b"PK\x03\x04", b"\x89HDF", b"\x93NUMPY", b"\x1f\x8b", b"\x80\x04", b"PAR1")
WORKERS = min(8, os.cpu_count() or 1)
# Always sent to the builder, whatever .dockerignore says.
ALWAYS_SENT = (".dockerignore",)


@dataclass(frozen=True)
class Finding:
    path: str  # as the engine sees it: relative to the context, "/"-separated
    what: str
    line: int | None = None
    shown: str | None = None  # masked: never the value itself
    ignore_line: str | None = None  # the .dockerignore line leaving it out; None: always sent

    def summary(self) -> str:
        return self.what + (f" ({self.shown})" if self.shown else "")

    def describe(self) -> str:
        """What was found and where in the file, without the file's name."""
        return self.summary() if self.line is None else f"line {self.line}: {self.summary()}"

    def fix(self) -> str:
        if self.ignore_line is None:
            return "remove the secret from it (the build always sends this file)"
        return f"add `{self.ignore_line}` to .dockerignore, or move the file out of the context"


def scan_context(build: BuildContext) -> list[Finding]:
    """Every secret, by name or by content, in what `build` sends to the engine; in path
    order."""
    context_dir = build.context
    files = dict.fromkeys(build.files)
    always = [*ALWAYS_SENT, _relative(build.dockerfile, context_dir)]
    files.update(dict.fromkeys(name for name in always if (context_dir / name).is_file()))
    always_sent = set(always)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = pool.map(
            lambda relative: _scan_file(context_dir / relative, relative, relative in always_sent),
            sorted(files),
        )
        return [finding for found in results for finding in found]


def check_build_context(build: BuildContext) -> None:
    """The build step's gate: raises CheckFailed (exit 2) naming every secret-holding file and
    the .dockerignore line that leaves it out, before anything is built or pushed."""
    findings = scan_context(build)
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
    return "\n".join(lines)


def _relative(path: Path, context_dir: Path) -> str:
    try:
        return path.resolve().relative_to(context_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _scan_file(path: Path, relative: str, always_sent: bool) -> list[Finding]:
    try:
        info = path.lstat()
    except OSError:
        return []
    # The engine sends a symlink as a link, and fifos or sockets not at all: never read them.
    if not stat.S_ISREG(info.st_mode):
        return []
    rule = name_rule(relative)
    ignore_line = None if always_sent else _ignore_line(relative, rule)
    if rule is not None and rule.what is not None:
        return [Finding(relative, rule.what, ignore_line=ignore_line)]
    hits = _content_hits(path, relative, info.st_size, rule)
    return [Finding(relative, hit.what, hit.line, hit.shown, ignore_line) for hit in hits]


def _content_hits(path: Path, relative: str, size: int, rule: NameRule | None) -> list[Hit]:
    if rule is None and Path(relative).suffix.lower() in SKIPPED_SUFFIXES:
        return []
    try:
        with path.open("rb") as handle:
            head = handle.read(min(size, WHOLE_LIMIT) if size <= WHOLE_LIMIT else CHUNK)
            if _binary(head):
                return []
            tail = b""
            if size > WHOLE_LIMIT:
                handle.seek(max(size - CHUNK, CHUNK))
                tail = handle.read(CHUNK)
    except OSError:
        return []
    hits = rule.content(head) if rule is not None and rule.content is not None else []
    hits += token_hits(head)
    hits += token_hits(tail, first_line=None)
    # One finding per line: an .env entry holding a known token format is one secret.
    seen: set[int | None] = set()
    unique = []
    for hit in hits:
        if hit.line is None or hit.line not in seen:
            seen.add(hit.line)
            unique.append(hit)
    return unique


def _binary(head: bytes) -> bool:
    return head.startswith(_MAGICS) or b"\0" in head[:8192]


def _ignore_line(relative: str, rule: NameRule | None) -> str:
    """A line that leaves the file out: its kind anywhere (`**/.env`), else its own path."""
    return relative if rule is None else f"**/{rule.glob}"
