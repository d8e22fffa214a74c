"""Registry credentials, held in memory only and never shown."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field


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


# Fetches the credentials of one run (and, where a push needs it, prepares the repository).
Login = Callable[[], Credentials | None]
