"""The layer a context COPY makes, as BuildKit makes it, without an engine.

BuildKit copies each source (a file, or a directory's contents) to the destination keeping the
mode the file has in the context, owned by root or by `--chown`, and `--chmod` on files. The
layer also holds the directories above the destination: those entries are taken from the prior
image's own layer, where the full build wrote them (for `--link`, made on scratch; otherwise the
lower layers' directories as the diff saw them). What a container sees is compared against a
real BuildKit layer in tests/test_patch_build.py.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipeline.imagebuild.patchable import CopySpec, Unpatchable
from pipeline.oci.blobs import file_chunks
from pipeline.project.dockerignore import DockerIgnore


@dataclass(frozen=True)
class Entry:
    name: str  # in the image, without the leading "/"
    source: Path
    kind: bytes  # tarfile.DIRTYPE, REGTYPE or SYMTYPE
    mode: int  # permission bits as they land in the image
    uid: int
    gid: int
    linkname: str = ""


@dataclass(frozen=True)
class Owner:
    uid: int = 0
    gid: int = 0

    @classmethod
    def parse(cls, chown: str | None) -> Owner | None:
        """A numeric `--chown`; None when it names a user or group, which only the image's
        /etc/passwd and /etc/group turn into numbers."""
        if not chown:
            return cls()
        user, _, group = chown.partition(":")
        if not user.isdigit() or (group and not group.isdigit()):
            return None
        # BuildKit: a user without a group gets the group of the same number.
        return cls(int(user), int(group or user))


def copy_entries(context: Path, ignore: DockerIgnore, spec: CopySpec, owner: Owner) -> list[Entry]:
    """What `spec` copies from `context`, in the image's paths, sorted, owned by `owner`."""
    chmod = int(spec.chmod, 8) if spec.chmod and spec.chmod.isdigit() else None
    if spec.chmod and chmod is None:
        raise Unpatchable(f"--chmod={spec.chmod} is not an octal mode")
    entries: list[Entry] = []
    for source in spec.sources:
        path = context / source if source else context
        if source and ignore.excludes(source):
            raise Unpatchable(f"COPY source {source} is left out by .dockerignore")
        if _through_link(context, source):
            # BuildKit follows a link named as the source, within the context; not emulated.
            raise Unpatchable(f"COPY source {source} is, or is under, a symbolic link")
        if path.is_dir():
            if chmod is not None or len(spec.sources) > 1:
                raise Unpatchable("a directory source with --chmod or beside other sources")
            entries += _tree(context, ignore, source, spec.destination.rstrip("/") or "/", owner)
        elif path.exists():
            name = (
                posixpath.join(spec.destination, posixpath.basename(source))
                if spec.into_directory
                else spec.destination
            )
            entries.append(_entry(path, name, owner, chmod))
        else:
            raise Unpatchable(f"COPY source {source} is not in the build context")
    return sorted(entries, key=lambda entry: entry.name)


def _through_link(context: Path, source: str) -> bool:
    path = context
    for part in Path(source).parts if source else ():
        path = path / part
        if path.is_symlink():
            return True
    return False


def _tree(context: Path, ignore: DockerIgnore, source: str, top: str, owner: Owner) -> list[Entry]:
    """A directory source: the directory itself at `top`, then what `.dockerignore` lets in."""
    root = context / source if source else context
    ignore_prefix = source + "/" if source else ""
    found = [] if top == "/" else [_entry(root, top, owner, None)]
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        for name in sorted(dirnames + filenames):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if _ignored(ignore, ignore_prefix + relative, path):
                if path.is_dir() and name in dirnames:
                    dirnames.remove(name)
                continue
            found.append(_entry(path, posixpath.join(top, relative), owner, None))
    return found


def _ignored(ignore: DockerIgnore, relative: str, path: Path) -> bool:
    if not ignore.excludes(relative):
        return False
    if path.is_dir() and ignore.may_reinclude_below(relative):
        raise Unpatchable(f"{relative}: a .dockerignore exception may bring files back below it")
    return True


def _entry(path: Path, name: str, owner: Owner, chmod: int | None) -> Entry:
    info = path.lstat()
    name = name.strip("/")
    if stat.S_ISLNK(info.st_mode):
        return Entry(name, path, tarfile.SYMTYPE, 0o777, owner.uid, owner.gid, os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return Entry(name, path, tarfile.DIRTYPE, stat.S_IMODE(info.st_mode), owner.uid, owner.gid)
    if not stat.S_ISREG(info.st_mode):
        raise Unpatchable(f"{path} is neither a file, a directory nor a symbolic link")
    mode = chmod if chmod is not None else stat.S_IMODE(info.st_mode)
    return Entry(name, path, tarfile.REGTYPE, mode, owner.uid, owner.gid)


def entries_sha256(entries: Iterable[Entry]) -> str:
    """What a container would see of `entries`: names, kinds, modes, owners, targets, bytes."""
    digest = hashlib.sha256()
    for entry in entries:
        head = f"{entry.name}\0{entry.kind.decode()}\0{entry.mode:o}\0{entry.uid}:{entry.gid}"
        digest.update(f"{head}\0{entry.linkname}\0".encode())
        if entry.kind == tarfile.REGTYPE:
            for chunk in file_chunks(entry.source):
                digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


def write_layer_tar(
    out: BinaryIO, ancestors: Iterable[tarfile.TarInfo], entries: Iterable[Entry], mtime: int
) -> None:
    """The layer's tar into `out`, a file at a time: the prior layer's directories above the
    destination, then the copy, every copied entry at `mtime` (the commit's time) so that a
    re-run makes the same bytes."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in ancestors:
            tar.addfile(info)
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type, info.mode, info.uid, info.gid = entry.kind, entry.mode, entry.uid, entry.gid
            info.mtime = mtime
            info.linkname = entry.linkname
            if entry.kind == tarfile.REGTYPE:
                info.size = entry.source.stat().st_size
                with entry.source.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
