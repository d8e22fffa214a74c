"""Where the project's image lives, and the logins of every registry a run touches.

The providers above the registry layer (`pipeline.distribution`): they read configuration, the
docker CLI's logins and the cloud SDKs to get the credentials the registry layer then sends.
`resolve_target(config)` reads configuration only (plus the caller's AWS identity when the ECR
account is named nowhere); a registry's login happens on the first request that goes there.
For ECR and Artifact Registry the target's login also makes sure the repository exists, because
a push needs both: the build step's candidate push works on every kind without knowing either.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pipeline.config.schema import Config
from pipeline.core.errors import UserError
from pipeline.core.retry import DEFAULT_POLICY, RetryPolicy
from pipeline.distribution.auth import Credentials, Keychain
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import ImageRef, canonical_host
from pipeline.registries.location import ECR_HOST, GAR_HOST, GCR_HOST, locate


@dataclass(frozen=True)
class Target:
    kind: str
    repository: ImageRef  # without tag or digest
    # Every registry's login, not only the target's: base images, caches, candidates elsewhere.
    keychain: Keychain = field(repr=False, compare=False)
    policy: RetryPolicy = DEFAULT_POLICY
    # Where the candidate (sha-*) and build-cache tags go: `registry.cache_repository` in the
    # same registry, else the repository itself.
    cache_repository: ImageRef | None = None

    @property
    def staging(self) -> ImageRef:
        """The repository of the candidate and the caches."""
        return self.cache_repository or self.repository

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
    from pipeline.registries import ecr, gar

    environ = os.environ if environ is None else environ
    location = locate(config, environ)
    repository = location.repository
    if repository is None:
        repository = (
            ecr.repository(config) if location.kind == "ecr" else gar.repository(config, environ)
        )
    path = config.registry.cache_repository
    staging = ImageRef(repository.host, path) if path else None
    lookup = _Lookup(config, environ, location.kind, repository, staging)
    policy = RetryPolicy(config.registry.retries)
    return Target(location.kind, repository, Keychain(lookup), policy, staging)


def reading_keychain(
    config: Config, image: ImageRef, environ: Mapping[str, str] | None = None
) -> Keychain:
    """The logins to read `image` (and any other registry), found in the target's order, but with
    no registry kind to settle: a read creates no repository (`verify` of any image)."""
    environ = os.environ if environ is None else environ
    return Keychain(_Lookup(config, environ, "", ImageRef(image.host, image.path), None))


@dataclass(frozen=True)
class _Lookup:
    """A registry's login, in the docker CLI's order: its config's `credHelpers`, `credsStore`
    and `auths`; then, for the target, the configured variables; then the cloud SDK of an ECR
    or Google registry."""

    config: Config
    environ: Mapping[str, str]
    kind: str
    repository: ImageRef
    staging: ImageRef | None

    def __call__(self, host: str) -> Credentials | None:
        from pipeline.registries import static
        from pipeline.registries.dockerconfig import DockerLogins

        target = host == canonical_host(self.repository.host)
        found = DockerLogins(self.environ).find(host)
        if target:
            found = found or static.login(self.config, self.environ, host)
        try:
            found = found or self._cloud(host)
        except UserError:
            # Another registry without a login is read anonymously, as docker would try it.
            if target:
                raise
        if target:
            self._settle(found)
        return found

    def _cloud(self, host: str) -> Credentials | None:
        from pipeline.registries import ecr, gar

        if ECR_HOST.fullmatch(host):
            return ecr.login(self.config, host)
        if GAR_HOST.fullmatch(host) or GCR_HOST.fullmatch(host):
            return gar.login(self.environ, host)
        return None

    def _settle(self, found: Credentials | None) -> None:
        """The target's repository exists; a registry that needs a login got one."""
        from pipeline.registries import ecr, gar, static

        if self.kind == "ecr":
            ecr.ensure_repository(self.config, self.repository)
            if self.staging:
                # Its tags move (buildcache) and are re-pushed by a retried job: never immutable.
                ecr.ensure_repository(self.config, self.staging, mutability="MUTABLE")
        if self.kind == "gar":
            gar.ensure_repository(self.config, self.environ, self.repository, found is not None)
        if self.kind == "dockerhub" and found is None:
            username, password = static.variables(self.config)
            raise UserError(
                f"registry {self.repository.host}: no login; run `docker login` (or "
                f"docker/login-action), or export {username} and {password} (not set)"
            )
