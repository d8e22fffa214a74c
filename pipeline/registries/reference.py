"""Image references: `host[:port]/path/name[:tag][@digest]`, split the way Docker does."""

from __future__ import annotations

from dataclasses import dataclass

DOCKER_HUB_HOST = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    host: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        rest, _, digest = text.partition("@")
        first, slash, remainder = rest.partition("/")
        # Docker's rule: the first component is a registry host when it has a dot, a port or is
        # localhost; otherwise the reference lives on Docker Hub.
        if slash and ("." in first or ":" in first or first == "localhost"):
            host, path = first, remainder
        else:
            host, path = DOCKER_HUB_HOST, rest
            if "/" not in path.split(":")[0]:
                path = "library/" + path
        name, colon, tag = path.rpartition(":")
        if colon and "/" not in tag:
            path = name
        else:
            tag = ""
        return cls(host=host, path=path, tag=tag or None, digest=digest or None)

    @property
    def repository(self) -> str:
        """`host/path` as the engine names it (Docker Hub's host left implicit)."""
        if self.host == DOCKER_HUB_HOST:
            return self.path.removeprefix("library/")
        return f"{self.host}/{self.path}"

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.host, self.path, tag=tag)

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.host, self.path, digest=digest)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text
