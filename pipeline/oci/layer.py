"""Layers, and reproducible layer tars: the same tree gives the same bytes, so the same digest.

A layer's digest is its compressed blob's (gzip, or zstd in an OCI manifest); its diff ID is
the uncompressed tar's, which the config lists. A layer is made in memory, or, when it may be
large, compressed to a file as its tar is written, so that neither the tar nor the blob is ever
held whole.

Tars made here sort their entries, fix owner, times and modes (as git knows them: executable or
not), and gzip without a name or a timestamp (zstd frames carry neither), so rebuilding one
layer of an image from the same files on another machine or another day changes nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import zstandard

from pipeline.distribution.mediatypes import OCI_MANIFEST, layer_type
from pipeline.oci.blobs import BlobSource, InMemory, OnDisk
from pipeline.oci.descriptor import Descriptor

GZIP_LEVEL = 6
# BuildKit's default for zstd (its `compression-level` unset).
ZSTD_LEVEL = 3


@dataclass(frozen=True)
class Layer:
    source: BlobSource  # the compressed blob
    digest: str  # the blob's
    size: int  # the blob's
    diff_id: str  # sha256 of the tar inside
    compression: str = "gzip"  # or zstd

    @classmethod
    def from_tar(cls, tar: bytes, compression: str = "gzip") -> Layer:
        blob = io.BytesIO()
        digest, size, diff_id = _compress(blob, lambda out: out.write(tar), compression)
        return cls(InMemory(blob.getvalue()), digest, size, diff_id, compression)

    @classmethod
    def written(
        cls, path: Path, write_tar: Callable[[BinaryIO], object], compression: str = "gzip"
    ) -> Layer:
        """The layer whose tar `write_tar` writes, compressed into `path` as it comes."""
        with path.open("wb") as handle:
            digest, size, diff_id = _compress(handle, write_tar, compression)
        return cls(OnDisk(path), digest, size, diff_id, compression)

    def descriptor(self, manifest_type: str = OCI_MANIFEST) -> Descriptor:
        """The layer as a manifest of type `manifest_type` lists it."""
        media_type = layer_type(manifest_type, self.compression)
        return Descriptor({"mediaType": media_type, "digest": self.digest, "size": self.size})


def _compress(
    out: BinaryIO, write_tar: Callable[[BinaryIO], object], compression: str
) -> tuple[str, int, str]:
    """Compress what `write_tar` writes into `out`, as it comes: the blob's digest and size,
    and the tar's digest (the diff ID)."""
    blob = _Counted(out)
    with _compressor(blob, compression) as compressed:
        tar = _Counted(compressed)
        write_tar(tar)  # type: ignore[arg-type]
    return blob.digest, blob.size, tar.digest


@contextlib.contextmanager
def _compressor(blob: _Counted, compression: str) -> Iterator[BinaryIO]:
    if compression == "zstd":
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        with compressor.stream_writer(blob, closefd=False) as compressed:  # type: ignore[arg-type]
            yield compressed  # type: ignore[misc]
    elif compression == "gzip":
        # The header says OS "unknown", as Go's gzip (BuildKit's) writes it, and no time.
        with gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
            yield gz  # type: ignore[misc]
    else:
        raise ValueError(f"no such layer compression: {compression}")


def decompressed(blob: BinaryIO, compression: str) -> BinaryIO:
    """A stream of the tar inside a layer blob read from `blob`, as far as it is read."""
    if compression == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(blob)  # type: ignore[return-value]
    if compression == "gzip":
        return gzip.GzipFile(fileobj=blob, mode="rb")  # type: ignore[return-value]
    raise ValueError(f"no such layer compression: {compression}")


class _Counted:
    """A write-only stream that hashes and counts what passes through it on the way to `out`.
    No `name`: gzip would write a file name into its header, and the blob would depend on it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._sha256.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    def tell(self) -> int:  # tarfile asks where it starts
        return self.size

    def flush(self) -> None:
        self._out.flush()

    @property
    def digest(self) -> str:
        return f"sha256:{self._sha256.hexdigest()}"


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
