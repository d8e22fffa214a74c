"""Who signs: a cosign key (a file or env://VAR, its password in COSIGN_PASSWORD) or, keyless,
the CI's OIDC identity through Sigstore. Decided once from the configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.signing.tools import run_tool, tool

ENV_SCHEME = "env://"
# Where cosign finds a CI's identity token: GitHub's token service, or a GitLab `id_tokens` one.
OIDC_SOURCES = ("ACTIONS_ID_TOKEN_REQUEST_URL", "SIGSTORE_ID_TOKEN")


@dataclass(frozen=True)
class Signer:
    key: str | None  # an absolute key file or env://VAR; None: keyless

    @property
    def flags(self) -> list[str]:
        """cosign sign/attest flags. A key is its own trust root: nothing goes to the public
        transparency log (verify with --insecure-ignore-tlog=true); keyless needs the log."""
        if self.key:
            return ["--key", self.key, "--tlog-upload=false", "--yes"]
        return ["--yes"]

    def describe(self) -> str:
        return f"key {self.key}" if self.key else "keyless (the CI's OIDC identity)"


def signer(config: Config) -> Signer | None:
    """The configured signer; None when signing is off (no `sign.key`, `sign.keyless` false)."""
    key = config.sign.key
    if key:
        if config.sign.keyless:
            raise UserError("sign.key and sign.keyless both set: sign with one (unset the other)")
        if not key.startswith(ENV_SCHEME):
            key = str(config.path(key).resolve())
        return Signer(key)
    return Signer(None) if config.sign.keyless else None


def check_signer(found: Signer, environ: Mapping[str, str] = os.environ) -> str:
    """What signs, once cosign has read the key (and decrypted it with COSIGN_PASSWORD); a
    UserError naming the key and what to do when it cannot."""
    if found.key is None:
        if not any(environ.get(name) for name in OIDC_SOURCES):
            raise UserError(
                "sign.keyless: no OIDC identity token here (GitHub: permissions id-token: "
                "write; GitLab: id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore); docs/github.md"
            )
        return found.describe()
    key = found.key
    if key.startswith(ENV_SCHEME):
        if not environ.get(key.removeprefix(ENV_SCHEME)):
            raise UserError(f"sign.key {key}: the variable is unset or empty")
    elif not Path(key).is_file():
        raise UserError(f"sign.key {key}: no such file (cosign generate-key-pair writes one)")
    what = f"sign.key {key}"
    if "COSIGN_PASSWORD" not in environ:
        raise UserError(f"{what}: COSIGN_PASSWORD is unset; set it to the key's password")
    try:
        run_tool([tool("cosign"), "public-key", "--key", key], dict(environ), what)
    except UserError as exc:
        raise UserError(f"{exc} (is it a cosign key, and COSIGN_PASSWORD its password?)") from exc
    return found.describe()
