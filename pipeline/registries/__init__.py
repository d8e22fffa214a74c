"""Where the project's image lives, and how to log in there, per registry kind."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.config import Config
from pipeline.registries.api import RegistryAPI
from pipeline.registries.credentials import Credentials
from pipeline.registries.reference import ImageRef


@dataclass(frozen=True)
class Target:
    kind: str
    repository: ImageRef  # without tag or digest
    credentials: Credentials | None

    def ref(self, tag: str) -> str:
        return str(self.repository.with_tag(tag))

    def api(self) -> RegistryAPI:
        return RegistryAPI(self.repository.host, self.credentials)

    def auth_config(self) -> dict[str, str] | None:
        return self.credentials.auth_config() if self.credentials else None


def _static_credentials(
    config: Config, environ: Mapping[str, str], host: str
) -> Credentials | None:
    username = environ.get(config.registry.username_env)
    password = environ.get(config.registry.password_env)
    if username and password:
        return Credentials(username=username, password=password, registry=host)
    return None


def resolve_target(config: Config, environ: Mapping[str, str] | None = None) -> Target:
    environ = os.environ if environ is None else environ
    repository = ImageRef.parse(f"{config.registry.url.rstrip('/')}/{config.image_name}")
    credentials = _static_credentials(config, environ, repository.host)
    return Target(config.registry.kind, repository, credentials)
