"""Registry credentials, held in memory only and never shown, and which registry they are for.

A password goes to its own registry and nowhere else: a candidate or base image on another
registry is read anonymously. `RegistryLogin.resolve(host)` is the one place that decides.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.distribution.reference import canonical_host


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


# Fetches the credentials of one run; None means anonymous.
Login = Callable[[], Credentials | None]


class RegistryLogin:
    """The credentials of one registry, fetched on the first request that goes there.

    A login can cost an API call (ECR, Artifact Registry) or fail for want of a secret, so
    an image on another registry never triggers it.
    """

    def __init__(self, host: str, login: Login) -> None:
        self.host = canonical_host(host)
        self._login = login
        self._done = False
        self._credentials: Credentials | None = None

    def resolve(self, host: str) -> Credentials | None:
        """The credentials to send to `host`; None: go anonymously."""
        if canonical_host(host) != self.host:
            return None
        if not self._done:
            self._credentials = self._login()
            self._done = True
        return self._credentials
