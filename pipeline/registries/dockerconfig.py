"""The logins the docker CLI holds: `docker login`, docker/login-action, credential helpers.

Read as the CLI reads them, from `$DOCKER_CONFIG/config.json` (default `~/.docker`): a
registry's `credHelpers` entry, else the `credsStore`, else its `auths` entry (base64
`user:secret`, or `username` and `password`). A helper is the program
`docker-credential-<name>` on PATH, asked `get` with the server on stdin, as the CLI does
(`docker-credential-ecr-login`, `-gcloud`, `-desktop`, `-pass`). Nothing is written back.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError
from pipeline.distribution.auth import Credentials, docker_config_dir
from pipeline.distribution.reference import DOCKER_HUB_HOST, canonical_host

# The key the CLI stores Docker Hub's login under.
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 60
# An identity token (`Username: <token>`) is an OAuth refresh token for the registry's own
# token service, not a password: it is not one a Basic login can use.
IDENTITY_TOKEN_USER = "<token>"


def server_host(server: str) -> str:
    """`https://index.docker.io/v1/` and `host:port` alike as the registry's host."""
    return canonical_host(server.split("://", 1)[-1].split("/", 1)[0])


def server_address(host: str) -> str:
    """The name the CLI asks a helper about for `host`."""
    return DOCKER_HUB_SERVER if canonical_host(host) == DOCKER_HUB_HOST else host


class DockerLogins:
    """The CLI's logins in one config file, looked up per registry host."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.path = docker_config_dir(environ) / "config.json"
        self.environ = environ
        try:
            self.config: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.config = {}

    def find(self, host: str) -> Credentials | None:
        host = canonical_host(host)
        helpers = {server_host(k): v for k, v in (self.config.get("credHelpers") or {}).items()}
        if helper := helpers.get(host) or self.config.get("credsStore"):
            return self._ask(helper, host)
        for server, entry in (self.config.get("auths") or {}).items():
            if server_host(server) == host and isinstance(entry, dict):
                return _entry(entry, host, self.path)
        return None

    def _ask(self, helper: str, host: str) -> Credentials | None:
        program = f"docker-credential-{helper}"
        found = shutil.which(program, path=self.environ.get("PATH"))
        if not found:
            raise UserError(
                f"registry {host}: {self.path} names the credential helper {helper!r}, and "
                f"{program} is not on PATH; install it or remove it from credHelpers/credsStore"
            )
        try:
            done = subprocess.run(
                [found, "get"],
                input=server_address(host),
                capture_output=True,
                text=True,
                timeout=HELPER_TIMEOUT,
                env=dict(self.environ),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UserError(f"registry {host}: credential helper {program} failed: {exc}") from exc
        if done.returncode != 0:
            # The protocol's "not found" is an exit status like any failure: say nothing, as
            # the CLI does, and let the next source or an anonymous request try.
            return None
        try:
            reply = json.loads(done.stdout)
            username, secret = reply["Username"], reply["Secret"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(
                f"registry {host}: credential helper {program} gave no Username/Secret"
            ) from exc
        if not secret or username == IDENTITY_TOKEN_USER:
            return None
        return Credentials(username=username, password=secret, registry=host)


def _entry(entry: Mapping[str, Any], host: str, path: Path) -> Credentials | None:
    if entry.get("username") and entry.get("password"):
        return Credentials(entry["username"], entry["password"], registry=host)
    if not entry.get("auth"):
        return None
    try:
        username, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise UserError(f"registry {host}: the auth entry in {path} is not base64") from exc
    return Credentials(username, secret, registry=host) if secret else None
