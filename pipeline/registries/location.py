"""Which registry the image goes to, and which kind of registry that is.

A full reference in `image.name` (`ghcr.io/team/churn`, `team/churn` on Docker Hub) decides the
registry, as `docker push` would read it; the kind follows from its host. `registry.*` keys that
say the same are fine, keys that say otherwise are a configuration error naming both, so a name
never lands silently under another registry. A bare name (`churn`) needs `registry.url` or a
cloud kind (ECR, Artifact Registry) that names the registry itself: there is no default
registry, except the local stack's where its environment says so (`PIPELINE_LOCAL_REGISTRY`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.config.schema import Config
from pipeline.core.errors import ConfigError
from pipeline.distribution.reference import DOCKER_HUB_HOST, ImageRef

ECR_HOST = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
)
GAR_HOST = re.compile(r"(?P<location>[a-z0-9-]+)-docker\.pkg\.dev")
GCR_HOST = re.compile(r"(?:[a-z]+\.)?gcr\.io")
PASSWORD_KINDS = {"generic", "dockerhub"}
# The local stack's registry (`devstack status --env`): where it is exported, and only there, a
# bare image.name without registry.url goes to it.
LOCAL_REGISTRY = "PIPELINE_LOCAL_REGISTRY"


def kind_of(host: str) -> str:
    """The registry kind a host belongs to; `generic` for any other registry."""
    if ECR_HOST.fullmatch(host):
        return "ecr"
    if GAR_HOST.fullmatch(host):
        return "gar"
    if GCR_HOST.fullmatch(host):
        return "gcr"
    return "dockerhub" if host == DOCKER_HUB_HOST else "generic"


@dataclass(frozen=True)
class Location:
    kind: str
    # The repository when the configuration names it; None: the kind's resolver finds it
    # (ECR's account from STS, Artifact Registry's project from the environment).
    repository: ImageRef | None


def locate(config: Config, environ: Mapping[str, str]) -> Location:
    """The registry kind and, when the configuration names it, the repository."""
    name, settings = config.image_name, config.registry
    first, slash, _ = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return _from_reference(config, ImageRef.parse(name))
    url = settings.url or (environ.get(LOCAL_REGISTRY) if settings.kind is None else None)
    if url and settings.kind not in ("ecr", "gar"):
        repository = ImageRef.parse(f"{url.rstrip('/')}/{name}")
        return Location(settings.kind or kind_of(repository.host), repository)
    if settings.kind in ("ecr", "gar", "gcr"):
        return Location(settings.kind, None)
    if slash:
        return _from_reference(config, ImageRef.parse(name))
    raise ConfigError(
        f"image.name {name!r} names no registry and registry.url is not set; write the full "
        f"reference (ghcr.io/team/{name}, or myorg/{name} on Docker Hub) or set registry.url "
        f"({LOCAL_REGISTRY}, which the local stack's environment exports, stands in for it there)"
    )


def _from_reference(config: Config, repository: ImageRef) -> Location:
    settings, name = config.registry, config.image_name
    kind = kind_of(repository.host)
    # Docker Hub and any other registry with a login are one API: only the cloud kinds differ.
    if settings.kind and settings.kind != kind and {settings.kind, kind} - PASSWORD_KINDS:
        _conflict(name, f"a {kind} registry", "registry.kind", settings.kind)
    if settings.url:
        prefix = ImageRef.parse(f"{settings.url.rstrip('/')}/_")
        if not f"{repository.host}/{repository.path}".startswith(
            f"{prefix.host}/{prefix.path.removesuffix('_')}"
        ):
            _conflict(name, repository.host, "registry.url", settings.url)
    if match := ECR_HOST.fullmatch(repository.host):
        _agree(config, name, "aws_account_id", match["account"])
        _agree(config, name, "aws_region", match["region"])
    if match := GAR_HOST.fullmatch(repository.host):
        parts = repository.path.split("/")
        if len(parts) < 3:
            raise ConfigError(
                f"image.name {name!r}: an Artifact Registry image is "
                "<location>-docker.pkg.dev/<project>/<repository>/<image>"
            )
        _agree(config, name, "gcp_location", match["location"])
        _agree(config, name, "gcp_project", parts[0])
        _agree(config, name, "gar_repository", parts[1])
    return Location(kind, repository)


def _agree(config: Config, name: str, key: str, value: str) -> None:
    """A `registry.<key>` set explicitly must be what the reference says."""
    given = getattr(config.registry, key)
    if f"registry.{key}" in config.sources and given != value:
        _conflict(name, value, f"registry.{key}", given)


def _conflict(name: str, says: str, key: str, given: object) -> None:
    raise ConfigError(
        f"image.name {name!r} names {says} but {key} is {given!r}; drop {key} (the reference "
        "decides) or write image.name as a path in that registry"
    )
