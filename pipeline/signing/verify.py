"""Check an image's signature and attestations with cosign, and read what they say.

cosign checks each signature against the key (or the keyless identity); this module then holds
each attestation's in-toto statement to the image: its subject must be the very digest."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import CheckFailed, UserError
from pipeline.distribution.auth import Keychain
from pipeline.distribution.reference import ImageRef
from pipeline.signing.sign import COSIGN_TYPES
from pipeline.signing.statements import PROVENANCE_TYPE, SBOM_TYPE, SMOKE_TYPE
from pipeline.signing.tools import registry_flags, run_tool, tool, tool_environment

EXPECTED = (PROVENANCE_TYPE, SBOM_TYPE, SMOKE_TYPE)


@dataclass(frozen=True)
class Verifier:
    """What a signature must verify against: a public key (a file or env://VAR), or a keyless
    signer's certificate identity and its OIDC issuer."""

    key: str | None = None
    identity: str | None = None
    issuer: str | None = None

    @property
    def flags(self) -> list[str]:
        if self.key:
            # Key signatures are not in the transparency log (`Signer.flags`).
            return ["--key", self.key, "--insecure-ignore-tlog=true"]
        return [
            "--certificate-identity", self.identity or "",
            "--certificate-oidc-issuer", self.issuer or "",
        ]  # fmt: skip


@dataclass(frozen=True)
class Verified:
    image: str
    signatures: int
    predicates: dict[str, dict[str, Any]]  # by predicate type

    def as_dict(self) -> dict[str, Any]:
        """The predicates as attested, but the SBOM's: its packages (name, version, purl)."""
        predicates = dict(self.predicates)
        if SBOM_TYPE in predicates:
            components = predicates[SBOM_TYPE].get("components", [])
            keys = ("name", "version", "purl")
            predicates[SBOM_TYPE] = {
                "components": [{k: c.get(k) for k in keys} for c in components]
            }
        return {"image": self.image, "signatures": self.signatures, "predicates": predicates}


def verify_image(verifier: Verifier, keychain: Keychain, image: ImageRef) -> Verified:
    """Verify `image` (by digest): the signature, then each expected attestation; CheckFailed
    on the first that is missing, signed by another key, altered, or about another digest."""
    assert image.digest, "verify an image by its digest"
    cosign = tool("cosign")
    flags = [*verifier.flags, *registry_flags([image])]
    predicates: dict[str, dict[str, Any]] = {}
    with tool_environment(keychain, [image]) as environ:
        found = _run(
            [cosign, "verify", *flags, "--output", "json", str(image)], environ, "signature"
        )
        signatures = json.loads(found or "[]")
        for signature in signatures:
            signed = signature.get("critical", {}).get("image", {}).get("docker-manifest-digest")
            if signed != image.digest:
                raise CheckFailed(f"{image}: a signature is of {signed}, not of this digest")
        for kind in EXPECTED:
            argv = [cosign, "verify-attestation", *flags, "--type", COSIGN_TYPES.get(kind, kind)]
            lines = _run([*argv, str(image)], environ, f"attestation {kind}").splitlines()
            for line in filter(None, lines):
                statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
                _check_subject(image, kind, statement)
                predicates[kind] = statement.get("predicate", {})
    return Verified(str(image), len(signatures), predicates)


def _run(argv: list[str], environ: dict[str, str], what: str) -> str:
    try:
        return run_tool(argv, environ, what)
    except UserError as exc:
        raise CheckFailed(f"verify: {exc}") from exc


def _check_subject(image: ImageRef, kind: str, statement: dict[str, Any]) -> None:
    if statement.get("predicateType") != kind:
        raise CheckFailed(f"{image}: a {kind} attestation states {statement.get('predicateType')}")
    digests = [s.get("digest", {}) for s in statement.get("subject", [])]
    algorithm, _, value = (image.digest or "").partition(":")
    if not any(d.get(algorithm) == value for d in digests):
        raise CheckFailed(f"{image}: the {kind} attestation is about {digests}, not this digest")
