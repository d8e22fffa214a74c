"""Registry credentials, held in memory only and never shown."""

from __future__ import annotations

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
        return text.replace(self.password, "***") if self.password else text
