"""The proof a registry-side patch rests on, written into the image's labels by the full build.

The fingerprint covers every input of the build but the sources of the patchable COPYs, in
named parts so that a fallback can say which changed: the Dockerfile, the ignore file, the
settings (build arguments, target, platform, extra labels), the digest of every FROM image, and
each context file (path, mode, bytes) that any other instruction may read. A file no
instruction reads (`.git` or a README sent along) is no input of the image. Each patchable
COPY gets its own hash over what it copies. When a later commit has the same fingerprint, only
the COPYs whose hash changed can differ from a full build: those layers are redone, every other
one is the same. Each splice (`patchable.SpliceSpec`) likewise gets its own hash over the
context files its stages alone read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.imagebuild.copylayer import Owner, copy_entries, entries_sha256
from pipeline.imagebuild.patchable import PatchPlan, Unpatchable
from pipeline.oci.blobs import file_chunks
from pipeline.project.buildcontext import BuildContext

FINGERPRINT_LABEL = "io.ml-release-pipeline.build.fingerprint"  # {"<part>": "<sha256>"}
COPIES_LABEL = "io.ml-release-pipeline.build.copies"  # {"<Dockerfile line>": "<sha256>"}
SPLICES_LABEL = "io.ml-release-pipeline.build.splices"  # {"<Dockerfile line>": "<sha256>"}
# What each part of the fingerprint covers, as a fallback names it.
PARTS = {
    "dockerfile": "the Dockerfile",
    "dockerignore": "the .dockerignore",
    "settings": "the build arguments, target, platform or image labels",
    "bases": "a FROM image's digest",
    "context": "build-context files that instructions other than the patchable COPYs read",
}


@dataclass(frozen=True)
class BuildProof:
    parts: Mapping[str, str]  # by PARTS' keys
    copies: Mapping[int, str]  # by the patchable COPY's line
    splices: Mapping[int, str] = field(default_factory=dict)  # by the splice COPY's line

    @property
    def labels(self) -> dict[str, str]:
        labels = {
            FINGERPRINT_LABEL: _compact(dict(self.parts)),
            COPIES_LABEL: _compact(_by_line(self.copies)),
        }
        if self.splices:
            labels[SPLICES_LABEL] = _compact(_by_line(self.splices))
        return labels

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> BuildProof | None:
        """The proof an image carries; None for an image no build of ours labelled."""
        try:
            parts = json.loads(labels[FINGERPRINT_LABEL])
            copies = json.loads(labels[COPIES_LABEL])
            splices = json.loads(labels.get(SPLICES_LABEL, "{}"))
            return cls(
                {str(k): str(v) for k, v in parts.items()},
                {int(k): str(v) for k, v in copies.items()},
                {int(k): str(v) for k, v in splices.items()},
            )
        except (KeyError, ValueError, AttributeError):
            return None

    def changed_parts(self, prior: BuildProof) -> list[str]:
        return [PARTS[part] for part in PARTS if self.parts.get(part) != prior.parts.get(part)]


@dataclass(frozen=True)
class ProofInputs:
    build: BuildContext
    build_args: Mapping[str, str]
    target: str | None
    platform: str | None
    labels: Mapping[str, str]  # the extra labels (image.labels)
    base_digests: Mapping[str, str | None]  # every FROM image -> its digest


def prove(inputs: ProofInputs, plan: PatchPlan) -> BuildProof:
    build = inputs.build
    copies: dict[int, str] = {}
    read = list(plan.read_elsewhere)
    for spec in plan.copies:
        try:
            # A named owner is hashed as root: the names are the Dockerfile's, in the proof.
            owner = Owner.parse(spec.chown) or Owner()
            copies[spec.line] = entries_sha256(
                copy_entries(build.context, build.ignore, spec, owner)
            )
        except Unpatchable:
            read += spec.sources  # in the fingerprint: a change to them means a full build
    splices = {spec.line: _context_sha256(build, spec.reads) for spec in plan.splices}
    settings = {
        "build_args": dict(inputs.build_args),
        "target": inputs.target,
        "platform": inputs.platform,
        "labels": dict(inputs.labels),
        "copies": sorted(copies),
    }
    parts = {
        "dockerfile": _sha256(build.dockerfile.read_bytes()),
        "dockerignore": _sha256(build.ignore_file.read_bytes() if build.ignore_file else b""),
        "settings": _sha256(json.dumps(settings, sort_keys=True).encode()),
        "bases": _sha256(json.dumps(dict(inputs.base_digests), sort_keys=True).encode()),
        "context": _context_sha256(build, tuple(read)),
    }
    return BuildProof(parts, copies, splices)


def _context_sha256(build: BuildContext, read_elsewhere: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for relative in build.files:
        if not _covered_by(relative, read_elsewhere):
            continue
        path = build.context / relative
        info = path.lstat()
        digest.update(f"{relative}\0{info.st_mode:o}\0".encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path).encode())
        else:
            for chunk in file_chunks(path):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _covered_by(relative: str, sources: tuple[str, ...]) -> bool:
    return any(
        not source or relative == source or relative.startswith(source + "/") for source in sources
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _by_line(hashes: Mapping[int, str]) -> dict[str, str]:
    return {str(line): digest for line, digest in sorted(hashes.items())}


def _compact(document: dict[str, str]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
