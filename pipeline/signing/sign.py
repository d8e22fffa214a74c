"""Sign an image's digest and attach its attestations, with cosign, in the image's repository:
the signature under `sha256-<hex>.sig`, the attestations (provenance, SBOM, smoke result) as
DSSE envelopes under `sha256-<hex>.att`. The image itself is not touched: its digest stays."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.distribution.auth import Keychain
from pipeline.distribution.reference import ImageRef
from pipeline.signing.keys import Signer
from pipeline.signing.sbom import write_sbom
from pipeline.signing.statements import PROVENANCE_TYPE, SBOM_TYPE
from pipeline.signing.tools import registry_flags, run_tool, tool, tool_environment

# cosign's --type for each predicate type it knows by a short name; others go as the URI.
COSIGN_TYPES = {PROVENANCE_TYPE: "slsaprovenance1", SBOM_TYPE: "cyclonedx"}


@dataclass(frozen=True)
class Signed:
    image: str  # by digest
    signer: str
    attestations: tuple[str, ...]  # predicate types

    def as_dict(self) -> dict[str, Any]:
        return {"image": self.image, "signer": self.signer, "attestations": self.attestations}


def sign_image(
    signer: Signer,
    keychain: Keychain,
    image: ImageRef,
    predicates: Mapping[str, Mapping[str, Any]],
    model_dir: Path | None = None,
) -> Signed:
    """Sign `image` (by digest) and attest each of `predicates` (type -> predicate) and its SBOM
    (with the weights of `model_dir`). A re-run replaces the attestations of each type rather
    than adding more."""
    assert image.digest, "sign an image by its digest: a tag can move"
    cosign = tool("cosign")
    flags = [*signer.flags, *registry_flags([image])]
    with tempfile.TemporaryDirectory(prefix="pipeline-sign-") as scratch:
        files = {}
        for kind, predicate in predicates.items():
            path = Path(scratch) / f"{len(files)}.json"
            path.write_text(json.dumps(predicate), encoding="utf-8")
            files[kind] = path
        files[SBOM_TYPE] = write_sbom(keychain, image, Path(scratch) / "sbom.json", model_dir)
        with tool_environment(keychain, [image]) as environ:
            run_tool([cosign, "sign", *flags, str(image)], environ, f"signing {image}")
            for kind, path in files.items():
                argv = [
                    cosign,
                    "attest",
                    *flags,
                    "--replace",
                    "--type",
                    COSIGN_TYPES.get(kind, kind),
                ]
                run_tool(
                    [*argv, "--predicate", str(path), str(image)], environ, f"attesting {image}"
                )
    return Signed(str(image), signer.describe(), tuple(files))
