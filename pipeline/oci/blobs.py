"""Where the bytes of a blob come from: memory or a file (a layer just made) or a registry.

An image read from a registry holds none of its layers' bytes, only where they are; writing it
elsewhere streams them (or mounts them, on the same registry) and never holds a layer whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.distribution.client import CHUNK_BYTES, RegistryAPI


class BlobSource(Protocol):
    def chunks(self) -> Iterable[bytes]:
        """The blob's bytes in order; called again for each try of an upload."""
        ...


@dataclass(frozen=True)
class InMemory:
    data: bytes

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), CHUNK_BYTES):
            yield self.data[start : start + CHUNK_BYTES]


@dataclass(frozen=True)
class OnDisk:
    """A blob too big to hold in memory (a multi-GB weights layer), read as it is sent."""

    path: Path

    def chunks(self) -> Iterator[bytes]:
        return file_chunks(self.path)


def file_chunks(path: Path) -> Iterator[bytes]:
    """A file's bytes in order, a chunk at a time."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


@dataclass(frozen=True, eq=False)
class InRegistry:
    api: RegistryAPI
    path: str  # the repository that holds it
    digest: str

    def chunks(self) -> Iterator[bytes]:
        return self.api.blob_chunks(self.path, self.digest)
