"""Self-signed certificates for the TLS stand-ins, and the places that must trust them."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipeline.core.errors import UserError

from .state import write_if_changed

DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_VALID_DAYS = 365
_RENEW_BEFORE_SECONDS = 7 * 24 * 3600


def _openssl(args: list[str]) -> subprocess.CompletedProcess[str]:
    if shutil.which("openssl") is None:
        raise UserError("openssl is not installed; install it (apt-get install -y openssl)")
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def _still_valid(cert: Path) -> bool:
    if not cert.exists():
        return False
    check = _openssl(["x509", "-checkend", str(_RENEW_BEFORE_SECONDS), "-noout", "-in", str(cert)])
    return check.returncode == 0


def ensure_cert(host: str, cert: Path, key: Path) -> bool:
    """Create (or renew) a self-signed cert for `host`; True when a new one was made.

    Kept across `up`s: a new cert means restarting the registry and re-trusting it.
    """
    if key.exists() and _still_valid(cert):
        return False
    cert.parent.mkdir(parents=True, exist_ok=True)
    made = _openssl(
        [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-days", str(_VALID_DAYS),
            "-keyout", str(key), "-out", str(cert),
            "-subj", f"/CN={host}",
            # Go (the engine, the registry) ignores the CN: the SAN is what gets checked.
            "-addext", f"subjectAltName=DNS:{host}",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
            "-addext", "extendedKeyUsage=serverAuth",
        ]
    )  # fmt: skip
    if made.returncode != 0:
        raise UserError(f"openssl could not make a certificate for {host}: {made.stderr.strip()}")
    key.chmod(0o600)
    return True


def trust_in_engine(host: str, cert: Path) -> bool:
    """The engine trusts a registry's CA from certs.d/HOST/ca.crt, read at each push."""
    target = DOCKER_CERTS_DIR / host / "ca.crt"
    try:
        return write_if_changed(target, cert.read_bytes())
    except PermissionError as exc:
        raise UserError(
            f"cannot write {target}; run `up` as root or copy {cert} there yourself"
        ) from exc


def untrust_in_engine(host: str) -> None:
    target = DOCKER_CERTS_DIR / host
    if target.is_dir():
        shutil.rmtree(target)


def system_bundle() -> Path | None:
    if SYSTEM_BUNDLE.exists():
        return SYSTEM_BUNDLE
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and Path(cafile).exists():
        return Path(cafile)
    try:
        import certifi
    except ImportError:
        return None
    return Path(certifi.where())


def write_bundle(target: Path, certs: Mapping[str, Path]) -> bool:
    """System CAs + the stand-ins' certs: one file for REQUESTS_CA_BUNDLE and friends."""
    parts: list[str] = []
    base = system_bundle()
    if base is not None:
        parts.append(base.read_text().rstrip("\n") + "\n")
    for host, cert in sorted(certs.items()):
        parts.append(f"# pipeline devstack stand-in: {host}\n")
        parts.append(cert.read_text().rstrip("\n") + "\n")
    return write_if_changed(target, "".join(parts))
