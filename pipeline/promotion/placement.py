"""How one tag comes to point at the candidate, and what every tag must then point at.

- In the target's registry (the target repository, or `registry.cache_repository`, where the
  build pushed it): the candidate's manifest is put under the tag registry-side, its very bytes,
  so every tag has exactly the candidate's digest, multi-platform indexes and attestations
  included, and nothing is pulled; from another repository its blobs are mounted first.
- Elsewhere (another registry, or only a local image): the engine pulls it by
  digest (or takes the local image), tags it and pushes. On the containerd image store the
  image ID is the manifest digest, which the engine pushes as it is; on a graph driver
  (overlay2) the engine writes a manifest of its own, whose digest may differ from the
  source's, and the image ID is the config digest, which must match: the same config and
  layers, byte for byte.
"""

from __future__ import annotations

from typing import Protocol

from pipeline.console.output import Output
from pipeline.core.errors import UserError
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import ImageRef
from pipeline.engine.client import CONTAINERD_STORE, docker_client, image_store
from pipeline.engine.transfer import pull, push
from pipeline.oci.manifest import Index, Manifest
from pipeline.oci.remote import put_manifest, read_manifest
from pipeline.registries import Target


class Placement(Protocol):
    method: str
    config_digest: str | None  # the image ID a graph-driver engine checks; None for an index
    expected: str | None  # the digest every tag must have; None until the first push says
    by_config: bool  # the registry's manifest may differ: its config digest is what must match

    def put(self, tag: str) -> str: ...


def config_digest(api: RegistryAPI, path: str, reference: str) -> str | None:
    """The config an image tag or digest names in the registry; None for an index or none."""
    found = read_manifest(api, path, reference)
    return found.config.digest if isinstance(found, Manifest) else None


class RegistryCopy:
    method = "registry"
    by_config = False

    def __init__(self, api: RegistryAPI, path: str, candidate: ImageRef) -> None:
        manifest = read_manifest(api, candidate.path, candidate.reference or "latest")
        if manifest is None:
            raise UserError(
                f"candidate {candidate} is not in the registry; build and push it first "
                "(python -m pipeline build), or name it with --image or --digest"
            )
        if candidate.path != path:
            _mount(api, candidate.path, path, manifest)
        self.api, self.path, self.manifest = api, path, manifest
        self.expected: str | None = manifest.digest
        self.config_digest = manifest.config.digest if isinstance(manifest, Manifest) else None

    def put(self, tag: str) -> str:
        return put_manifest(self.api, self.path, tag, self.manifest)


def _mount(api: RegistryAPI, source: str, path: str, document: Manifest | Index) -> None:
    """`document`'s blobs (an index's manifests too) linked from `source` into `path` of the same
    registry: nothing is downloaded unless the registry declines the mount."""
    if isinstance(document, Index):
        for child in document.manifests:
            found = read_manifest(api, source, child.digest)
            if found is not None:
                _mount(api, source, path, found)
                put_manifest(api, path, found.digest, found)
        return
    for blob in (document.config, *document.layers):
        digest = blob.digest
        if api.blob_size(path, digest) is None and not api.mount_blob(path, digest, source):
            api.upload_blob(path, digest, lambda digest=digest: api.blob_chunks(source, digest))


class EnginePush:
    method = "engine"

    def __init__(self, target: Target, candidate: ImageRef, out: Output) -> None:
        import docker

        client = docker_client()
        try:
            image = client.images.get(str(candidate))
            out.note(f"push: using the local image {candidate} ({image.id[:19]})")
        except docker.errors.ImageNotFound:
            credentials = target.keychain.resolve(candidate.host)
            pull(str(candidate), credentials, target.policy, out.note)
            image = client.images.get(str(candidate))
        except docker.errors.APIError as exc:  # e.g. a reference the engine cannot parse
            raise UserError(f"candidate {candidate}: {exc.explanation or exc}") from exc
        self.target, self.image, self.out = target, image, out
        self.by_config = image_store() != CONTAINERD_STORE
        # Known up front on the containerd store; otherwise after the first push.
        self.expected: str | None = None if self.by_config else image.id
        self.config_digest: str | None = image.id if self.by_config else None

    def put(self, tag: str) -> str:
        self.image.tag(self.target.repository.repository, tag)
        ref = self.target.ref(tag)
        digest = push(ref, self.target.credentials, self.target.policy, self.out.note).digest
        self.expected = self.expected or digest
        if self.config_digest is None:
            api = self.target.api()
            self.config_digest = config_digest(api, self.target.repository.path, digest)
        return digest
