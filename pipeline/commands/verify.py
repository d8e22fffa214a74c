"""`pipeline verify IMAGE[@DIGEST] --key KEY`: check a release's signature and attestations with
cosign, and print what its provenance and smoke test say (exit 2 on any mismatch)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.commands.context import Context
    from pipeline.signing.verify import Verified


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="image by tag or digest (REF[@sha256:...])")
    parser.add_argument(
        "--key", help="public key the release was signed with (cosign.pub, or env://VAR)"
    )
    parser.add_argument(
        "--certificate-identity",
        metavar="IDENTITY",
        help="keyless: the signer's identity (a CI workflow's URL, as Fulcio certified it)",
    )
    parser.add_argument(
        "--certificate-oidc-issuer",
        metavar="ISSUER",
        help="keyless: the identity's issuer (https://token.actions.githubusercontent.com, ...)",
    )


def run(ctx: Context) -> int:
    from pipeline.core.errors import UsageError, UserError
    from pipeline.core.retry import DEFAULT_POLICY
    from pipeline.distribution.client import RegistryAPI
    from pipeline.distribution.reference import ImageRef
    from pipeline.registries import reading_keychain
    from pipeline.signing.verify import Verifier, verify_image

    args = ctx.args
    keyless = args.certificate_identity and args.certificate_oidc_issuer
    if bool(args.key) == bool(keyless):
        raise UsageError(
            "verify: give --key KEY, or (keyless) --certificate-identity and "
            "--certificate-oidc-issuer"
        )
    verifier = Verifier(args.key, args.certificate_identity, args.certificate_oidc_issuer)
    image = ImageRef.parse(args.image)
    keychain = reading_keychain(ctx.config, image)
    if not image.digest:
        api = RegistryAPI(image.host, keychain.resolve(image.host), DEFAULT_POLICY)
        digest = api.digest(image.path, image.tag or "latest")
        if digest is None:
            raise UserError(f"verify: {image} is not in the registry")
        image = image.with_digest(digest)
    verified = verify_image(verifier, keychain, image)
    ctx.out.result(verified.as_dict(), summary(verified))
    return 0


def summary(verified: Verified) -> str:
    from pipeline.signing.statements import PROVENANCE_TYPE, SBOM_TYPE, SMOKE_TYPE

    provenance = verified.predicates.get(PROVENANCE_TYPE, {})
    definition = provenance.get("buildDefinition", {})
    parameters = definition.get("externalParameters", {})
    source = parameters.get("source", {})
    builder = provenance.get("runDetails", {}).get("builder", {})
    lines = [
        f"verified {verified.image}: {verified.signatures} signature(s)",
        f"provenance: {source.get('uri')} at {source.get('commit')}, version "
        f"{parameters.get('version')}, {definition.get('internalParameters', {}).get('path')} "
        f"build of {parameters.get('dockerfile')}, by {builder.get('id')}",
    ]
    for dependency in definition.get("resolvedDependencies", []):
        digest = ", ".join(f"{k}:{v}" for k, v in dependency.get("digest", {}).items())
        lines.append(f"  from {dependency.get('uri')} {digest}".rstrip())
    lines.append(_smoke_line(verified.predicates.get(SMOKE_TYPE, {})))
    components = verified.predicates.get(SBOM_TYPE, {}).get("components", [])
    lines.append(f"sbom: {len(components)} components")
    return "\n".join(lines)


def _smoke_line(smoke: dict[str, Any]) -> str:
    if smoke.get("skipped"):
        return f"smoke: not tested ({smoke['skipped']})"
    checks = ", ".join(f"{c.get('name')} {c.get('status')}" for c in smoke.get("checks", []))
    verdict = "passed" if smoke.get("passed") else "FAILED"
    return f"smoke: {verdict} (gpu {smoke.get('gpu') or 'none'}; {checks})"
