"""Images read from and written to a registry, blob by blob, with no engine.

Writing uploads only what the repository lacks: a blob it holds is skipped, one held by another
repository of the same registry is mounted (nothing copied), and only the rest is uploaded,
streamed from wherever it is. The manifest goes last, once everything it names is there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pipeline.core.errors import RegistryError
from pipeline.distribution.client import RawManifest, RegistryAPI
from pipeline.oci.blobs import BlobSource, InRegistry
from pipeline.oci.config import ImageConfig
from pipeline.oci.image import Image
from pipeline.oci.manifest import Index, Manifest, parse

BlobOutcome = Literal["present", "mounted", "uploaded"]


@dataclass
class Written:
    digest: str  # the manifest's
    blobs: dict[str, BlobOutcome] = field(default_factory=dict)  # by digest

    def count(self, outcome: BlobOutcome) -> int:
        return sum(1 for found in self.blobs.values() if found == outcome)


def read_manifest(api: RegistryAPI, path: str, reference: str) -> Manifest | Index | None:
    """The manifest or index `reference` (a tag or digest) names; None when there is none."""
    raw = api.raw_manifest(path, reference)
    return parse(raw.body, raw.media_type) if raw else None


def read_image(api: RegistryAPI, path: str, reference: str) -> Image:
    """The image `reference` names (from an index, its linux/amd64 or first image), with its
    config read and its layers left in the registry until something needs their bytes."""
    found = read_manifest(api, path, reference)
    if isinstance(found, Index):
        found = read_manifest(api, path, found.default_image().digest)
    if not isinstance(found, Manifest):
        raise RegistryError(f"registry {api.host}: no image {path}:{reference}")
    config = ImageConfig(api.get_blob(path, found.config.digest), found.config.media_type)
    blobs = [*found.layers, found.config]
    sources = {blob.digest: InRegistry(api, path, blob.digest) for blob in blobs}
    return Image(found, config, sources)


def write_image(api: RegistryAPI, path: str, image: Image, tags: Iterable[str] = ()) -> Written:
    """`image` into repository `path`, by its digest and under each of `tags`."""
    written = Written(image.digest)
    for descriptor in [*image.layers, image.manifest.config]:
        source = image.source(descriptor.digest)
        written.blobs[descriptor.digest] = write_blob(api, path, descriptor.digest, source)
    for reference in [image.digest, *tags]:
        put_manifest(api, path, reference, image.manifest)
    return written


def write_blob(api: RegistryAPI, path: str, digest: str, source: BlobSource) -> BlobOutcome:
    if api.blob_size(path, digest) is not None:
        return "present"
    if (
        isinstance(source, InRegistry)
        and source.api.host == api.host
        and source.path != path
        and api.mount_blob(path, digest, source.path)
    ):
        return "mounted"
    api.upload_blob(path, digest, source.chunks)
    return "uploaded"


def put_manifest(api: RegistryAPI, path: str, reference: str, manifest: Manifest | Index) -> str:
    """Store `manifest` under `reference` (a tag, or its own digest); returns its digest.

    Its very bytes: a manifest copied under another tag keeps its digest."""
    raw = RawManifest(manifest.data, manifest.media_type, manifest.digest)
    return api.put_manifest(path, reference, raw)
