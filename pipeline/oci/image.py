"""An image: a manifest, its config, and where each of its blobs is. Edits return new images.

An edit changes the config and the manifest together (a layer's diff ID and history entry go
with it), so the result is always a consistent image with its own digest; the image it was made
from is untouched. Unedited, the manifest and config keep their bytes and the digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.distribution.mediatypes import CONFIG_TYPES, OCI_MANIFEST
from pipeline.oci.blobs import BlobSource, InMemory
from pipeline.oci.config import ImageConfig
from pipeline.oci.descriptor import Descriptor
from pipeline.oci.layer import Layer
from pipeline.oci.manifest import Manifest


@dataclass(frozen=True)
class Image:
    manifest: Manifest
    config: ImageConfig
    # Where the content of each layer (and of a config read from a registry) is, by digest.
    sources: Mapping[str, BlobSource]

    @classmethod
    def scratch(cls, media_type: str = OCI_MANIFEST, **config: Any) -> Image:
        """An image with no layers, in the manifest family `media_type` names."""
        image_config = ImageConfig.build(media_type=CONFIG_TYPES[media_type], **config)
        manifest = Manifest.build(image_config.descriptor, [], media_type)
        return cls(manifest, image_config, {})

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    def source(self, digest: str) -> BlobSource:
        """Where blob `digest` (a layer, or the config) is: a read config is left in its
        registry too, where it can be mounted from."""
        if digest in self.sources:
            return self.sources[digest]
        if digest == self.config.descriptor.digest:
            return InMemory(self.config.data)
        raise KeyError(f"{digest} is no blob of image {self.digest}")

    def append_layer(self, layer: Layer, history: Mapping[str, Any] | None = None) -> Image:
        """`layer` on top, with its history entry (`created_by` says what made it)."""
        config = self.config.with_diff_ids([*self.config.diff_ids, layer.diff_id])
        config = config.with_history([*self.config.history, dict(history or {})])
        layers = [*self.layers, layer.descriptor(self.manifest.media_type)]
        return self._with(config, layers, {layer.digest: layer.source})

    def replace_layer(self, index: int, layer: Layer, created_by: str | None = None) -> Image:
        """Layer `index` (0 is the bottom) made anew; every other layer stays as it is."""
        if not 0 <= index < len(self.layers):
            raise IndexError(f"layer {index}: the image has {len(self.layers)}")
        diff_ids = list(self.config.diff_ids)
        diff_ids[index] = layer.diff_id
        config = self.config.with_diff_ids(diff_ids)
        entry = self.config.layer_history_index(index)
        if created_by is not None and entry is not None:
            history = [dict(item) for item in self.config.history]
            history[entry]["created_by"] = created_by
            config = config.with_history(history)
        layers = list(self.layers)
        layers[index] = layer.descriptor(self.manifest.media_type)
        return self._with(config, layers, {layer.digest: layer.source})

    def with_labels(self, labels: Mapping[str, str | None]) -> Image:
        return self._with(self.config.with_labels(labels), self.layers, {})

    def with_config(self, config: ImageConfig) -> Image:
        """Another config (history or diff IDs edited by the caller) with the same layers."""
        return self._with(config, self.layers, {})

    def _with(
        self,
        config: ImageConfig,
        layers: tuple[Descriptor, ...] | list[Descriptor],
        added: Mapping[str, BlobSource],
    ) -> Image:
        manifest = self.manifest.with_config(config.descriptor).with_layers(layers)
        kept = {layer.digest for layer in layers}
        sources = {d: s for d, s in {**self.sources, **added}.items() if d in kept}
        return Image(manifest, config, sources)
