"""Registry credentials, held in memory only and never shown, and which registry they are for.

A password goes to its own registry and nowhere else: `Keychain.resolve(host)` is the one place
that decides what a registry gets, and a registry it has nothing for is read anonymously.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.distribution.reference import canonical_host


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    """The docker CLI's own directory: its logins (config.json), contexts and plugins."""
    return Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    registry: str = ""

    def auth_config(self) -> dict[str, str]:
        """The docker SDK's per-call `auth_config`; nothing lands in ~/.docker/config.json."""
        config = {"username": self.username, "password": self.password}
        if self.registry:
            config["serveraddress"] = self.registry
        return config

    def redact(self, text: str) -> str:
        """`text` without the secret, also in the base64 `user:secret` form of Basic auth."""
        if not self.password:
            return text
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return text.replace(basic, "***").replace(self.password, "***")


# Finds the credentials for one registry host; None: go anonymously.
Lookup = Callable[[str], Credentials | None]


class Keychain:
    """The credentials of each registry a run touches, looked up on its first request.

    A look-up can cost an API call or a credential helper's run, or fail for want of a secret,
    so a registry is asked about only when something goes there, and once.
    """

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._found: dict[str, Credentials | None] = {}

    def resolve(self, host: str) -> Credentials | None:
        """The credentials to send to `host`; None: go anonymously."""
        host = canonical_host(host)
        if host not in self._found:
            self._found[host] = self._lookup(host)
        return self._found[host]

    def logins(self, hosts: Iterable[str]) -> tuple[Credentials, ...]:
        """The credentials held for any of `hosts`, one per registry."""
        found = (self.resolve(host) for host in dict.fromkeys(map(canonical_host, hosts)))
        return tuple(credentials for credentials in found if credentials)
