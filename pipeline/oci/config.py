"""The image config: what a container of the image runs, its labels, history and layer IDs.

Kept as bytes: its digest is what a manifest names and what the engine calls the image ID on
a graph driver. Every edit returns a new config, written anew.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.distribution.mediatypes import OCI_CONFIG
from pipeline.oci.canonical import dumps
from pipeline.oci.descriptor import Descriptor


@dataclass(frozen=True)
class ImageConfig:
    data: bytes
    media_type: str = OCI_CONFIG

    @classmethod
    def build(
        cls,
        architecture: str = "amd64",
        os: str = "linux",
        media_type: str = OCI_CONFIG,
        config: Mapping[str, Any] | None = None,
    ) -> ImageConfig:
        """A config without layers: the start of an image made from scratch."""
        document = {
            "architecture": architecture,
            "os": os,
            "config": dict(config or {}),
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        }
        return cls(dumps(document), media_type)

    @functools.cached_property
    def json(self) -> Mapping[str, Any]:
        return json.loads(self.data)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor.of(self.media_type, self.data)

    @property
    def labels(self) -> Mapping[str, str]:
        return (self.json.get("config") or {}).get("Labels") or {}

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple((self.json.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def history(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(self.json.get("history") or [])

    def with_labels(self, labels: Mapping[str, str | None]) -> ImageConfig:
        """Labels set (or, given None, removed); the others kept."""
        document = json.loads(self.data)
        runtime = document.setdefault("config", {}) or {}
        merged = {**(runtime.get("Labels") or {}), **labels}
        runtime["Labels"] = {key: value for key, value in merged.items() if value is not None}
        document["config"] = runtime
        return ImageConfig(dumps(document), self.media_type)

    def with_diff_ids(self, diff_ids: Iterable[str]) -> ImageConfig:
        document = json.loads(self.data)
        rootfs = document.get("rootfs") or {"type": "layers"}
        document["rootfs"] = {**rootfs, "diff_ids": list(diff_ids)}
        return ImageConfig(dumps(document), self.media_type)

    def with_history(self, history: Iterable[Mapping[str, Any]]) -> ImageConfig:
        document = json.loads(self.data)
        document["history"] = [dict(entry) for entry in history]
        return ImageConfig(dumps(document), self.media_type)

    def layer_history_index(self, layer: int) -> int | None:
        """Which history entry made layer `layer`: entries with `empty_layer` made none."""
        made = [i for i, entry in enumerate(self.history) if not entry.get("empty_layer")]
        return made[layer] if layer < len(made) else None
