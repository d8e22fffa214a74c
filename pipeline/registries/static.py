"""Docker Hub and any other registry with a username and a password or token.

`registry.url` is `host[:port][/namespace]`; a bare namespace (`myorg`) is on Docker Hub, as
Docker reads names. The secret comes from the environment variables the configuration names,
so CI's secret store is the only place it lives.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.distribution.auth import Credentials, Login
from pipeline.distribution.reference import ImageRef


def resolve(config: Config, environ: Mapping[str, str]) -> tuple[ImageRef, Login]:
    repository = ImageRef.parse(f"{config.registry.url.rstrip('/')}/{config.image_name}")
    return repository, lambda: _credentials(config, environ, repository.host)


def _credentials(config: Config, environ: Mapping[str, str], host: str) -> Credentials | None:
    names = (config.registry.username_env, config.registry.password_env)
    username, password = (environ.get(name) or "" for name in names)
    if username and password:
        return Credentials(username=username, password=password, registry=host)
    missing = [name for name, value in zip(names, (username, password), strict=True) if not value]
    if config.registry.kind == "dockerhub" or len(missing) == 1:
        raise UserError(
            f"registry {host}: {' and '.join(missing)} not set; export the registry username "
            "and password or access token there (registry.username_env / registry.password_env "
            "name other variables)"
        )
    return None  # a generic registry that takes anonymous pushes, such as a local one
