"""Where the project's image lives, and how to log in there, per `registry.kind`.

The providers above the registry layer (`pipeline.distribution`): they read configuration and
call cloud APIs (ECR, Artifact Registry) to get credentials the registry layer then sends.
`resolve_target(config)` reads configuration only (plus the caller's AWS identity when the ECR
account is not configured); the login happens on the first request to the target's registry.
For ECR and Artifact Registry that login also makes sure the repository exists, because a push
needs both: the build step's candidate push works on every kind without knowing about either.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pipeline.config.schema import Config
from pipeline.core.retry import DEFAULT_POLICY, RetryPolicy
from pipeline.distribution.auth import Credentials, Login, RegistryLogin
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import ImageRef


@dataclass(frozen=True)
class Target:
    kind: str
    repository: ImageRef  # without tag or digest
    login: Login = field(repr=False, compare=False)
    policy: RetryPolicy = DEFAULT_POLICY

    @functools.cached_property
    def keychain(self) -> RegistryLogin:
        """This run's credentials for the target's registry, and for no other."""
        return RegistryLogin(self.repository.host, self.login)

    @property
    def credentials(self) -> Credentials | None:
        """Credentials for this run (tokens are fetched per run); None means anonymous."""
        return self.keychain.resolve(self.repository.host)

    def ref(self, tag: str) -> str:
        """The image `tag` as the engine and buildx name it (`repository.with_tag` for a value)."""
        return str(self.repository.with_tag(tag))

    def api(self, note: Callable[[str], None] | None = None) -> RegistryAPI:
        return RegistryAPI(self.repository.host, self.credentials, self.policy, note)


def resolve_target(config: Config, environ: Mapping[str, str] | None = None) -> Target:
    from pipeline.registries import ecr, gar, static

    environ = os.environ if environ is None else environ
    resolvers = {
        "dockerhub": static.resolve,
        "generic": static.resolve,
        "ecr": ecr.resolve,
        "gar": gar.resolve,
        "gcr": gar.resolve,
    }
    repository, login = resolvers[config.registry.kind](config, environ)
    return Target(config.registry.kind, repository, login, RetryPolicy(config.registry.retries))
