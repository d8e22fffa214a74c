"""A login from the environment variables the configuration names, for any registry.

`registry.username_env` / `password_env` (default `DOCKERHUB_USERNAME` / `DOCKERHUB_TOKEN`), so
CI's secret store is the only place the secret lives. Both or neither: one alone is a mistake.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.distribution.auth import Credentials


def variables(config: Config) -> tuple[str, str]:
    return config.registry.username_env, config.registry.password_env


def login(config: Config, environ: Mapping[str, str], host: str) -> Credentials | None:
    names = variables(config)
    username, password = (environ.get(name) or "" for name in names)
    if username and password:
        return Credentials(username=username, password=password, registry=host)
    if username or password:
        missing = names[1] if username else names[0]
        raise UserError(
            f"registry {host}: {missing} not set; export the registry username and password "
            "or access token there (registry.username_env / registry.password_env name other "
            "variables)"
        )
    return None
