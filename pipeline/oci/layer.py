"""Layers, and reproducible layer tars: the same tree gives the same bytes, so the same digest.

A layer's digest is its gzip blob's; its diff ID is the uncompressed tar's, which the config
lists. Tars made here sort their entries, fix owner, times and modes (as git knows them:
executable or not), and gzip without a name or a timestamp, so rebuilding one layer of an
image from the same files on another machine or another day changes nothing.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.distribution.client import sha256_digest
from pipeline.distribution.mediatypes import OCI_LAYER
from pipeline.oci.descriptor import Descriptor

GZIP_LEVEL = 6


@dataclass(frozen=True)
class Layer:
    data: bytes  # the gzip blob
    diff_id: str  # sha256 of the tar inside

    @classmethod
    def from_tar(cls, tar: bytes) -> Layer:
        return cls(gzip.compress(tar, compresslevel=GZIP_LEVEL, mtime=0), sha256_digest(tar))

    def descriptor(self, media_type: str = OCI_LAYER) -> Descriptor:
        return Descriptor.of(media_type, self.data)


@dataclass(frozen=True)
class TarOptions:
    mtime: int = 0  # e.g. the commit's time (SOURCE_DATE_EPOCH)
    uid: int = 0
    gid: int = 0


def tree_tar(root: Path, destination: str = "", options: TarOptions = TarOptions()) -> bytes:
    """The files under `root` as a layer tar, placed at `destination` in the image
    (`app` puts `root/main.py` at `/app/main.py`), with `destination`'s directories."""
    base = PurePosixPath(destination.strip("/"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        parents = [] if str(base) == "." else [*reversed(base.parents[:-1]), base]
        for directory in parents:
            tar.addfile(_entry(str(directory), tarfile.DIRTYPE, 0o755, options))
        for path in _walk(root):
            name = str(base / path.relative_to(root).as_posix())
            _add(tar, path, name, options)
    return buffer.getvalue()


def tree_layer(root: Path, destination: str = "", options: TarOptions = TarOptions()) -> Layer:
    return Layer.from_tar(tree_tar(root, destination, options))


def _walk(root: Path) -> list[Path]:
    """Every path under `root`, sorted as strings so the order is the same everywhere."""
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(root):
        found += [Path(directory, name) for name in dirnames + filenames]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _add(tar: tarfile.TarFile, path: Path, name: str, options: TarOptions) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        entry = _entry(name, tarfile.SYMTYPE, 0o777, options)
        entry.linkname = os.readlink(path)
        tar.addfile(entry)
    elif stat.S_ISDIR(mode):
        tar.addfile(_entry(name, tarfile.DIRTYPE, 0o755, options))
    elif stat.S_ISREG(mode):
        data = path.read_bytes()
        executable = 0o755 if mode & stat.S_IXUSR else 0o644
        entry = _entry(name, tarfile.REGTYPE, executable, options)
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))


def _entry(name: str, kind: bytes, mode: int, options: TarOptions) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type, entry.mode, entry.mtime = kind, mode, options.mtime
    entry.uid, entry.gid, entry.uname, entry.gname = options.uid, options.gid, "", ""
    return entry
