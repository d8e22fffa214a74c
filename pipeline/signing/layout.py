"""Where cosign keeps an image's signatures and attestations, and copying them with the image.

cosign's tag scheme: in the image's repository, `sha256-<hex>.sig` holds the signatures and
`sha256-<hex>.att` the attestations (DSSE envelopes), each an OCI image whose layers are the
signed payloads. They name the digest, not a tag: wherever the same digest goes, they can go.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.distribution.client import RegistryAPI
from pipeline.oci.blobs import InRegistry
from pipeline.oci.manifest import Manifest
from pipeline.oci.remote import put_manifest, read_manifest, write_blob

SUFFIXES = ("sig", "att")


def cosign_tag(digest: str, suffix: str) -> str:
    """`sha256-<hex>.<suffix>`: cosign's tag for what it attaches to `digest`."""
    algorithm, _, hex_digest = digest.partition(":")
    return f"{algorithm}-{hex_digest}.{suffix}"


@dataclass(frozen=True)
class Carried:
    tags: tuple[str, ...]  # the cosign tags copied (those the source had)


def carry(
    source: RegistryAPI, source_path: str, target: RegistryAPI, target_path: str, digest: str
) -> Carried:
    """Copy `digest`'s signatures and attestations from one repository to another (any two
    registries): blobs first (mounted within a registry), then the manifest, its very bytes.
    A re-run copies what changed and leaves the rest: an IMMUTABLE repository (ECR) refuses
    even the same manifest under a tag it holds."""
    same = (source.host, source_path) == (target.host, target_path)
    copied = []
    for suffix in SUFFIXES:
        tag = cosign_tag(digest, suffix)
        found = read_manifest(source, source_path, tag)
        if not isinstance(found, Manifest):
            continue
        if not same and target.digest(target_path, tag) != found.digest:
            for blob in (found.config, *found.layers):
                held = InRegistry(source, source_path, blob.digest)
                write_blob(target, target_path, blob.digest, held)
            put_manifest(target, target_path, tag, found)
        copied.append(tag)
    return Carried(tuple(copied))
