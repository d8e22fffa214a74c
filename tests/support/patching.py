"""An image as a full build of ours pushes it, made without an engine: the prior image a patch
starts from, for tests that have no engine or should not wait for one."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable

from pipeline.distribution.client import RawManifest, RegistryAPI
from pipeline.distribution.mediatypes import DOCKER_MANIFEST
from pipeline.imagebuild.copylayer import Entry, Owner, copy_entries, write_layer_tar
from pipeline.imagebuild.labels import CREATED_LABEL
from pipeline.imagebuild.record import record_built
from pipeline.imagebuild.run import Prepared
from pipeline.oci.image import Image
from pipeline.oci.layer import Layer
from pipeline.oci.remote import write_image
from pipeline.project.dockerignore import DockerIgnore


def buildkit_like_image(prepared: Prepared) -> Image:
    """What buildx pushes for `FROM scratch` and one COPY into /app: its layer (with the
    directory above it), history and labels."""
    spec = prepared.patchable.copies[0]
    entries = copy_entries(prepared.inputs.build.context, DockerIgnore(), spec, Owner())
    app = tarfile.TarInfo("app")
    app.type, app.mode = tarfile.DIRTYPE, 0o755
    created = prepared.labels[CREATED_LABEL]
    image = Image.scratch(DOCKER_MANIFEST).append_layer(
        Layer.from_tar(layer_tar([app], entries, 1)),
        {"created": created, "created_by": spec.created_by},
    )
    return image.with_labels(prepared.labels)


def layer_tar(ancestors: Iterable[tarfile.TarInfo], entries: Iterable[Entry], mtime: int) -> bytes:
    """The tar a patch writes for `entries`, in memory."""
    buffer = io.BytesIO()
    write_layer_tar(buffer, ancestors, entries, mtime)
    return buffer.getvalue()


def push_as_built(api: RegistryAPI, path: str, image: Image, tags: Iterable[str]) -> None:
    """`image` pushed as our build pushes a candidate: with the record that it is ours."""
    written = write_image(api, path, image, tags=tags)
    manifest = image.manifest
    record_built(api, path, RawManifest(manifest.data, manifest.media_type, written.digest))
