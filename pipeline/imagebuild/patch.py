"""A candidate made in the registry from a prior image: only the changed COPY layers redone.

The prior image must be one our build or patch pushed (`record`), and its proof (`fingerprint`)
must equal this commit's; then every layer but those of the patchable COPYs whose sources
changed is, by construction, the layer a full build would make. Those are rebuilt from the
build context (`copylayer`), uploaded, and the config (diff IDs, labels, the commit's time) and
manifest written, each new layer compressed as `build.compression` says (a prior compressed
otherwise is not patched: a full build would recompress it). A splice whose stage's inputs
changed takes the layer the caller's `splice` builds (`splice.py`). Whatever cannot be proven
raises `Unpatchable` with the reason, and the caller builds in full.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from pipeline.distribution.client import RawManifest, RegistryAPI
from pipeline.distribution.mediatypes import layer_compression
from pipeline.imagebuild.candidate import other_compression
from pipeline.imagebuild.copylayer import Entry, Owner, copy_entries, write_layer_tar
from pipeline.imagebuild.fingerprint import BuildProof
from pipeline.imagebuild.labels import CREATED_LABEL
from pipeline.imagebuild.patchable import CopySpec, PatchPlan, SpliceSpec, Unpatchable
from pipeline.imagebuild.prior import nearest_image
from pipeline.imagebuild.record import built_by_us, record_built, record_tag
from pipeline.imagebuild.steps import Step
from pipeline.oci.canonical import dumps
from pipeline.oci.config import ImageConfig
from pipeline.oci.image import Image
from pipeline.oci.layer import Layer, decompressed
from pipeline.oci.remote import Written, write_image
from pipeline.project.buildcontext import BuildContext

# Builds a splice's stage: its one layer, and the steps the build ran.
SpliceBuild = Callable[[SpliceSpec], tuple[Layer, list[Step]]]


@dataclass(frozen=True)
class PatchRequest:
    api: RegistryAPI
    path: str  # the image's repository
    tag: str  # the candidate's
    priors: list[str]  # tags to start from, the nearest first
    build: BuildContext
    plan: PatchPlan
    proof: BuildProof
    labels: Mapping[str, str]  # every label the full build would set, the proof's included
    committed_at: int
    compression: str = "gzip"  # build.compression: the new layers', and every layer's with zstd
    splice: SpliceBuild | None = None  # None: no engine to build a stage with


@dataclass(frozen=True)
class Patched:
    prior: str  # the tag it started from
    image: Image  # its new layers' files are gone: it is written, not to be written again
    redone: list[str]  # the history entries of the layers made anew
    written: Written
    steps: list[Step] = field(default_factory=list)  # what the splices' stage builds ran


class UnusablePrior(Unpatchable):
    """The prior image is not provably one we pushed, or a blob of it is gone: a reason to warn,
    not only to note."""


def patch(request: PatchRequest) -> Patched:
    found = nearest_image(request.api, request.path, request.priors)
    if found is None:
        raise Unpatchable(f"no prior image in the registry (tried {', '.join(request.priors)})")
    tag, prior = found
    prior_proof = BuildProof.from_labels(prior.config.labels)
    if prior_proof is None:
        raise Unpatchable(f"prior image {tag} has no build fingerprint (not built by us)")
    digest = request.api.digest(request.path, tag)
    if digest is None or not built_by_us(request.api, request.path, digest):
        raise UnusablePrior(
            f"prior image {request.api.host}/{request.path}:{tag} ({digest}) carries our labels "
            f"but is not provably an image our build or patch pushed (no {record_tag(digest or '')}"
            " record beside it): an image pushed over that tag, or one older than the records"
        )
    gone = [
        layer.digest
        for layer in prior.layers
        if request.api.blob_size(request.path, layer.digest) is None
    ]
    if gone:
        more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
        raise UnusablePrior(
            f"prior image {request.api.host}/{request.path}:{tag} lacks its layer blob {gone[0]}"
            f"{more} in the registry (deleted or garbage-collected), so it is not patched on"
        )
    changed = request.proof.changed_parts(prior_proof)
    if (
        changed
        or set(prior_proof.copies) != set(request.proof.copies)
        or set(prior_proof.splices) != set(request.proof.splices)
    ):
        raise Unpatchable(f"changed since {tag}: {', '.join(changed) or 'the patchable COPYs'}")
    other = other_compression(prior, request.compression)
    if other:
        raise Unpatchable(
            f"prior image {tag} has {other} and build.compression is {request.compression}: "
            "a full build compresses them anew"
        )
    # The slow part first, and the one that can fail: a stage build.
    image, steps, spliced = _splice_changed(request, prior, prior_proof)
    # A changed layer (a weights file may be GBs) goes through a file, never whole in memory.
    with tempfile.TemporaryDirectory(prefix="pipeline-patch-") as scratch:
        image, redone = _redo_changed(request, image, prior_proof, Path(scratch))
        redone = spliced + redone
        labelled = all(prior.config.labels.get(k) == v for k, v in request.labels.items())
        if redone or not labelled:
            before = prior.config.labels.get(CREATED_LABEL, "")
            config = _retimed(image.config, before, request.labels.get(CREATED_LABEL, before))
            image = image.with_config(config.with_labels(request.labels))
        # Else this commit's own candidate (a retried job): tagged again as it is, same digest.
        written = write_image(request.api, request.path, image, tags=[request.tag])
        manifest = image.manifest
        record_built(
            request.api,
            request.path,
            RawManifest(manifest.data, manifest.media_type, written.digest),
        )
    return Patched(tag, image, redone, written, steps)


def _splice_changed(
    request: PatchRequest, prior: Image, prior_proof: BuildProof
) -> tuple[Image, list[Step], list[str]]:
    """The prior image with the layer of each splice whose stage's inputs changed replaced by
    the layer of that stage built anew."""
    image = prior
    steps: list[Step] = []
    redone: list[str] = []
    for spec in request.plan.splices:
        if request.proof.splices.get(spec.line) == prior_proof.splices.get(spec.line):
            continue
        if request.splice is None:
            raise Unpatchable(f"stage {spec.stage} changed, and only an engine builds it")
        index = _layer_index(prior.config, spec.created_by)
        layer, ran = request.splice(spec)
        image = image.replace_layer(index, layer)
        steps += ran
        redone.append(spec.created_by)
    return image, steps, redone


def _redo_changed(
    request: PatchRequest, prior: Image, prior_proof: BuildProof, scratch: Path
) -> tuple[Image, list[str]]:
    """The prior image with the layer of each COPY whose sources changed made anew."""
    image = prior
    redone: list[str] = []
    for spec in request.plan.copies:
        # A COPY the proof has no hash for is in the fingerprint, so unchanged.
        digest = request.proof.copies.get(spec.line)
        if digest is None or digest == prior_proof.copies.get(spec.line):
            continue
        index = _layer_index(prior.config, spec.created_by)
        owner = Owner.parse(spec.chown)
        entries = copy_entries(request.build.context, request.build.ignore, spec, owner or Owner())
        ancestors, first_copied = _head(prior, index, entries)
        if owner is None:
            entries = _owned_as_before(entries, spec, first_copied)
        write = partial(
            write_layer_tar, ancestors=ancestors, entries=entries, mtime=request.committed_at
        )
        layer = Layer.written(scratch / f"layer-{index}", write, request.compression)
        image = image.replace_layer(index, layer)
        redone.append(spec.created_by)
    return image, redone


def _layer_index(config: ImageConfig, created_by: str) -> int:
    """The layer an instruction made, by its history entry: exactly one, and one that made a
    layer."""
    made = [i for i, entry in enumerate(config.history) if not entry.get("empty_layer")]
    hits = [i for i, entry in enumerate(config.history) if entry.get("created_by") == created_by]
    if len(made) != len(config.diff_ids) or len(hits) != 1 or hits[0] not in made:
        raise Unpatchable(f"no single layer of the prior image is {created_by!r}")
    return made.index(hits[0])


def _head(
    image: Image, index: int, entries: list[Entry]
) -> tuple[list[tarfile.TarInfo], tarfile.TarInfo | None]:
    """The directory entries above the copied ones at the head of the prior layer (what the
    full build wrote for the destination's parents: BuildKit writes parents first), and the
    first entry it copied (nothing else follows them in the layer)."""
    names = {entry.name for entry in entries}
    found: list[tarfile.TarInfo] = []
    layer = image.layers[index]
    compression = layer_compression(layer.media_type)
    if compression is None:
        raise Unpatchable(f"prior layer {layer.digest} is neither gzip nor zstd")
    stream = io.BufferedReader(_ChunkReader(image.source(layer.digest).chunks()))
    with tarfile.open(fileobj=decompressed(stream, compression), mode="r|") as tar:
        for info in tar:
            name = info.name.removeprefix("./").rstrip("/")
            above = any(other.startswith(name + "/") for other in names)
            if not info.isdir() or name in names or not above:
                return found, info
            found.append(info)
    return found, None


def _owned_as_before(
    entries: list[Entry], spec: CopySpec, first_copied: tarfile.TarInfo | None
) -> list[Entry]:
    """A named `--chown`: the full build looked the names up in the image's /etc/passwd and
    /etc/group, which the proof holds unchanged (every layer under this one is), so the ids
    it gave what it copied then are the ids now."""
    if first_copied is None:
        raise Unpatchable(f"--chown={spec.chown}: the prior layer shows no copied file")
    return [replace(entry, uid=first_copied.uid, gid=first_copied.gid) for entry in entries]


class _ChunkReader(io.RawIOBase):
    """A blob as it streams from the registry, read only as far as the tar is."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _retimed(config: ImageConfig, before: str, after: str) -> ImageConfig:
    """The full build stamps the image and every step it ran with the commit's time
    (SOURCE_DATE_EPOCH): what carried the prior commit's time now carries this one's."""
    document = json.loads(config.data)
    if document.get("created") == before:
        document["created"] = after
    for entry in document.get("history") or []:
        if entry.get("created") == before:
            entry["created"] = after
    return ImageConfig(dumps(document), config.media_type)
