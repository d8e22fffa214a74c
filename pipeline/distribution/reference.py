"""Image references: `host[:port]/path/name[:tag][@digest]`, split the way Docker does.

The one reference type of the package. Parsing is lenient on purpose: lint reads references
with unexpanded `${ARG}`s in them, and a registry says no to a name it does not take.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCKER_HUB_HOST = "docker.io"
# The names Docker Hub answers to; credentials and references agree on the first.
DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB_HOST, "index.docker.io", "registry-1.docker.io"})


def canonical_host(host: str) -> str:
    """One name per registry, so that two spellings of Docker Hub are the same registry."""
    return DOCKER_HUB_HOST if host in DOCKER_HUB_ALIASES else host


@dataclass(frozen=True)
class ImageRef:
    host: str
    path: str  # the repository inside the registry: library/python, team/churn
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        rest, _, digest = text.partition("@")
        first, slash, remainder = rest.partition("/")
        # Docker's rule: the first component is a registry host when it has a dot, a port or is
        # localhost; otherwise the reference lives on Docker Hub.
        if slash and ("." in first or ":" in first or first == "localhost"):
            host, path = canonical_host(first), remainder
        else:
            host, path = DOCKER_HUB_HOST, rest
        name, colon, tag = path.rpartition(":")
        if colon and "/" not in tag:
            path = name
        else:
            tag = ""
        if host == DOCKER_HUB_HOST and "/" not in path:
            path = "library/" + path
        return cls(host=host, path=path, tag=tag or None, digest=digest or None)

    @property
    def repository(self) -> str:
        """`host/path` as the engine names it (Docker Hub's host left implicit)."""
        if self.host == DOCKER_HUB_HOST:
            return self.path.removeprefix("library/")
        return f"{self.host}/{self.path}"

    @property
    def reference(self) -> str | None:
        """What the registry's manifest endpoint takes: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.host, self.path, tag=tag)

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.host, self.path, digest=digest)

    def same_repository(self, other: ImageRef) -> bool:
        return (self.host, self.path) == (other.host, other.path)

    def is_repository(self, *names: str) -> bool:
        """Whether this is one of `names` (like nvidia/cuda) on whatever registry or mirror."""
        return any(f"/{self.path}".endswith(f"/{name}") for name in names)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text
