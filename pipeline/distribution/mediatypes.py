"""The media types of images and their parts, in both families registries serve.

Docker's v2 schema 2 and OCI's image spec carry the same structure under different names; a
manifest's parts take its family's names (a Docker manifest lists Docker layers).
"""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
# What a manifest GET accepts: every kind, so the registry never converts (and re-digests) one.
ACCEPT_MANIFESTS = ", ".join([*INDEX_TYPES, *IMAGE_TYPES])

CONFIG_TYPES = {OCI_MANIFEST: OCI_CONFIG, DOCKER_MANIFEST: DOCKER_CONFIG}
# A layer's type by its manifest's family and its compression. Docker's schema 2 has no zstd
# layer: an engine refuses such a manifest ("mismatched image rootfs and manifest layers").
LAYER_TYPES = {
    (OCI_MANIFEST, "gzip"): OCI_LAYER,
    (OCI_MANIFEST, "zstd"): OCI_LAYER_ZSTD,
    (DOCKER_MANIFEST, "gzip"): DOCKER_LAYER,
}
COMPRESSIONS = {media_type: compression for (_, compression), media_type in LAYER_TYPES.items()}


def layer_type(manifest_type: str, compression: str) -> str:
    """The media type of a `compression` layer in a manifest of type `manifest_type`."""
    found = LAYER_TYPES.get((manifest_type, compression))
    if found is None:
        raise ValueError(f"a {manifest_type} manifest has no {compression} layer type")
    return found


def layer_compression(media_type: str) -> str | None:
    """gzip or zstd for a layer of `media_type`; None for any other (an uncompressed tar)."""
    return COMPRESSIONS.get(media_type)
