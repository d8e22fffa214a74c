"""A descriptor: the media type, digest and size of a blob, and whatever else was written."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.distribution.client import sha256_digest


@dataclass(frozen=True)
class Descriptor:
    # The descriptor as written: fields this package does not model (urls, artifactType...)
    # survive an edit of the manifest around them. Never modified in place.
    fields: Mapping[str, Any]

    @classmethod
    def of(cls, media_type: str, data: bytes) -> Descriptor:
        return cls({"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)})

    @property
    def media_type(self) -> str:
        return str(self.fields.get("mediaType", ""))

    @property
    def digest(self) -> str:
        return str(self.fields["digest"])

    @property
    def size(self) -> int:
        return int(self.fields["size"])

    @property
    def platform(self) -> Mapping[str, Any]:
        return self.fields.get("platform") or {}

    def to_json(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.fields))
