"""Image manifests and indexes, kept as the bytes they were read as or written to.

An edit (`with_config`, `with_layers`) changes only what it names and keeps every other field
(annotations, subject, artifactType...); the result is written anew, so it has a new digest.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.distribution.client import default_platform, sha256_digest
from pipeline.distribution.mediatypes import INDEX_TYPES, OCI_INDEX, OCI_MANIFEST
from pipeline.oci.canonical import dumps
from pipeline.oci.descriptor import Descriptor


@dataclass(frozen=True)
class _Document:
    data: bytes
    media_type: str

    @functools.cached_property
    def json(self) -> Mapping[str, Any]:
        return json.loads(self.data)

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor.of(self.media_type, self.data)

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.json.get("annotations") or {}

    def _edited(self, **changes: Any) -> dict[str, Any]:
        return {**json.loads(self.data), **changes}


@dataclass(frozen=True)
class Manifest(_Document):
    """An image manifest: a config and layers."""

    @classmethod
    def build(
        cls,
        config: Descriptor,
        layers: Iterable[Descriptor],
        media_type: str = OCI_MANIFEST,
        annotations: Mapping[str, str] | None = None,
    ) -> Manifest:
        document: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
        if annotations:
            document["annotations"] = dict(annotations)
        return cls(dumps(document), media_type)

    @property
    def config(self) -> Descriptor:
        return Descriptor(self.json["config"])

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return tuple(Descriptor(layer) for layer in self.json.get("layers") or [])

    def with_config(self, config: Descriptor) -> Manifest:
        return Manifest(dumps(self._edited(config=config.to_json())), self.media_type)

    def with_layers(self, layers: Iterable[Descriptor]) -> Manifest:
        edited = self._edited(layers=[layer.to_json() for layer in layers])
        return Manifest(dumps(edited), self.media_type)


@dataclass(frozen=True)
class Index(_Document):
    """An image index (a Docker manifest list): one manifest per platform, and attestations."""

    @classmethod
    def build(cls, manifests: Iterable[Descriptor], media_type: str = OCI_INDEX) -> Index:
        document = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [manifest.to_json() for manifest in manifests],
        }
        return cls(dumps(document), media_type)

    @property
    def manifests(self) -> tuple[Descriptor, ...]:
        return tuple(Descriptor(entry) for entry in self.json.get("manifests") or [])

    def default_image(self) -> Descriptor:
        """The image a single-platform reader takes (`RegistryAPI.compressed_size`'s choice)."""
        return Descriptor(default_platform(list(self.json["manifests"])))


def parse(data: bytes, media_type: str = "") -> Manifest | Index:
    """A manifest of either kind; the media type from the registry, else from the document."""
    media_type = media_type or json.loads(data).get("mediaType", "")
    if media_type in INDEX_TYPES:
        return Index(data, media_type)
    return Manifest(data, media_type)
