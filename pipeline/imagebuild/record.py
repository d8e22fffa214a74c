"""The record of what our build or patch pushed, the patch's trust in a prior image.

A candidate's labels say which commit and inputs it was built from, but whoever can push to
its `sha-` tag can push an image derived from it there (`FROM` it plus a `RUN`), and the labels
come along. So each candidate we push gets a record in its repository: an OCI artifact whose
subject is the candidate's manifest, tagged `sha256-<hex>.built` after that manifest's digest
(the referrers tag schema, as cosign's `.sig`). A prior image is patched on only when the
manifest its tag points to now has a record: an image pushed over the tag has another digest
and none. The record guards against mistakes, not against someone who may push and means to
forge one.
"""

from __future__ import annotations

from pipeline.distribution.client import RawManifest, RegistryAPI
from pipeline.distribution.mediatypes import OCI_MANIFEST
from pipeline.oci.blobs import InMemory
from pipeline.oci.canonical import dumps
from pipeline.oci.descriptor import Descriptor
from pipeline.oci.manifest import Manifest
from pipeline.oci.remote import put_manifest, write_blob

ARTIFACT_TYPE = "application/vnd.ml-release-pipeline.built.v1"
_EMPTY = Descriptor.of("application/vnd.oci.empty.v1+json", b"{}")


def record_tag(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}.built"


def record_built(api: RegistryAPI, path: str, subject: RawManifest) -> None:
    """Write the record that `subject`, just pushed to `path`, is ours (once: a retried job's
    record stands, and a repository with immutable tags refuses a second)."""
    if built_by_us(api, path, subject.digest):
        return
    write_blob(api, path, _EMPTY.digest, InMemory(b"{}"))
    document = {
        **Manifest.build(_EMPTY, [_EMPTY]).json,
        "artifactType": ARTIFACT_TYPE,
        "subject": Descriptor.of(subject.media_type, subject.body).to_json(),
    }
    put_manifest(api, path, record_tag(subject.digest), Manifest(dumps(document), OCI_MANIFEST))


def built_by_us(api: RegistryAPI, path: str, digest: str) -> bool:
    return api.digest(path, record_tag(digest)) is not None
