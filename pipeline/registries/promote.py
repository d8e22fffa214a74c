"""Promotion: the smoke-tested candidate gets the version's tags, without a rebuild.

- Candidate in the target repository (where the build pushed it): its manifest is copied
  registry-side under each tag (a PUT of the very bytes), so every tag has exactly the
  candidate's digest, multi-platform indexes and attestations included, and nothing is pulled.
- Candidate elsewhere (another registry or repository, or only a local image): the engine pulls
  it by digest (or takes the local image), tags it and pushes. What is verified is that every
  tag has one and the same digest, and that it is the candidate's image: on the containerd
  image store the image ID is the manifest digest, which the engine pushes as it is; on a graph
  driver (overlay2) the engine writes a manifest of its own, whose digest may differ from the
  source's, and the image ID is the config digest, which must match: the same config and
  layers, byte for byte.

Order makes failure safe: the fixed tags (X.Y.Z, sha-...) first, the moving ones (X.Y, X,
latest) last, each verified in the registry before the next. If anything fails, the moving tags
were not touched, and a re-run completes the set: every step is idempotent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.config import Config
from pipeline.engine import CONTAINERD_STORE, docker_client, image_store
from pipeline.errors import RegistryError, UserError
from pipeline.output import Output
from pipeline.registries import Target, resolve_target
from pipeline.registries.api import RegistryAPI
from pipeline.registries.reference import ImageRef
from pipeline.registries.transfer import pull, push
from pipeline.versioning.history import History, read_history
from pipeline.versioning.image_tags import ImageTags, image_tags
from pipeline.versioning.versions import parse_version, release_versions

if TYPE_CHECKING:
    import semver


@dataclass(frozen=True)
class PushedTag:
    tag: str
    ref: str
    digest: str
    moving: bool

    def as_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "ref": self.ref, "digest": self.digest, "moving": self.moving}


@dataclass
class PushReport:
    registry: str  # the registry kind
    repository: str
    version: str
    candidate: str
    method: str  # "registry": manifest copied in place; "engine": pulled, tagged, pushed
    digest: str  # what every pushed tag points at
    config_digest: str | None  # the image ID; None for a multi-platform index
    pushed: list[PushedTag] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)  # moving tags left alone, and why

    @property
    def tags(self) -> list[str]:
        return [pushed.tag for pushed in self.pushed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "repository": self.repository,
            "version": self.version,
            "candidate": self.candidate,
            "method": self.method,
            "digest": self.digest,
            "config_digest": self.config_digest,
            "tags": [pushed.as_dict() for pushed in self.pushed],
            "held": self.held,
        }

    def text(self) -> str:
        lines = [f"pushed {self.repository}: {', '.join(self.tags)}", f"digest {self.digest}"]
        lines += [f"held {tag}: {reason}" for tag, reason in self.held.items()]
        return "\n".join(lines)


class _Placement(Protocol):
    """How one tag comes to point at the candidate, and what it must then point at."""

    method: str
    config_digest: str | None
    expected: str | None  # the digest every tag must have; None until the first push says

    def put(self, tag: str) -> str: ...


class _RegistryCopy:
    method = "registry"

    def __init__(self, api: RegistryAPI, target: Target, candidate: ImageRef) -> None:
        reference = candidate.digest or candidate.tag or "latest"
        manifest = api.raw_manifest(target.repository.path, reference)
        if manifest is None:
            raise UserError(
                f"candidate {candidate} is not in the registry; build and push it first "
                "(python -m pipeline build), or name it with --image or --digest"
            )
        self.api, self.path, self.manifest = api, target.repository.path, manifest
        self.expected = manifest.digest
        self.config_digest = None if manifest.is_index else manifest.json()["config"]["digest"]

    def put(self, tag: str) -> str:
        return self.api.put_manifest(self.path, tag, self.manifest)


class _EnginePush:
    method = "engine"

    def __init__(self, target: Target, candidate: ImageRef, out: Output) -> None:
        import docker

        client = docker_client()
        try:
            image = client.images.get(str(candidate))
            out.note(f"push: using the local image {candidate} ({image.id[:19]})")
        except docker.errors.ImageNotFound:
            credentials = target.credentials if candidate.host == target.repository.host else None
            pull(str(candidate), credentials, target.policy, out.note)
            image = client.images.get(str(candidate))
        except docker.errors.APIError as exc:  # e.g. a reference the engine cannot parse
            raise UserError(f"candidate {candidate}: {exc.explanation or exc}") from exc
        self.target, self.image, self.out = target, image, out
        self.by_manifest = image_store() == CONTAINERD_STORE
        # Known up front on the containerd store; otherwise after the first push.
        self.expected: str | None = image.id if self.by_manifest else None
        self.config_digest: str | None = None if self.by_manifest else image.id

    def put(self, tag: str) -> str:
        self.image.tag(self.target.repository.repository, tag)
        ref = self.target.ref(tag)
        digest = push(ref, self.target.credentials, self.target.policy, self.out.note).digest
        self.expected = self.expected or digest
        if self.config_digest is None:
            manifest = self.target.api().manifest(self.target.repository.path, digest) or {}
            self.config_digest = (manifest.get("config") or {}).get("digest")
        return digest


def promote(
    config: Config,
    out: Output,
    version: str,
    candidate: str | None = None,
    on_pushed: Callable[[PushedTag], None] | None = None,
) -> PushReport:
    """Give `candidate` (default `<target>:sha-<HEAD>`) the image tags of `version`.

    `on_pushed` is called after each tag is pushed and verified, fixed tags first.
    """
    parsed = parse_version(version)
    if parsed is None:
        raise UserError(f"version {version!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    history = read_history(config, os.environ)
    target = resolve_target(config)
    api = target.api(note=out.note)
    path = target.repository.path
    source = (
        ImageRef.parse(candidate)
        if candidate
        else target.repository.with_tag(f"sha-{history.short_sha}")
    )
    in_place = (source.host, source.path) == (target.repository.host, path)
    placement: _Placement = (
        _RegistryCopy(api, target, source) if in_place else _EnginePush(target, source, out)
    )
    tags = release_tags(config, api, path, history, parsed)
    report = PushReport(
        registry=target.kind,
        repository=str(target.repository),
        version=str(parsed),
        candidate=str(source),
        method=placement.method,
        digest="",
        config_digest=placement.config_digest,
        held=tags.held,
    )
    _refuse_rewrites(api, target, tags.fixed, placement)
    for tag, reason in tags.held.items():
        out.note(f"push: {tag} stays where it is ({reason})")
    for tag in tags.all:
        pushed = PushedTag(tag, target.ref(tag), placement.put(tag), tag in tags.moving)
        _verify(api, path, pushed, placement)
        report.pushed.append(pushed)
        out.note(f"push: {pushed.ref} -> {pushed.digest}")
        if on_pushed:
            on_pushed(pushed)
    report.digest = placement.expected or ""
    report.config_digest = placement.config_digest
    return report


def release_tags(
    config: Config, api: RegistryAPI, path: str, history: History, version: semver.Version
) -> ImageTags:
    """The image tags `version` gets; moving tags follow releases in git and in the registry."""
    released = [*history.releases.values(), *release_versions(api.tags(path), "").values()]
    return image_tags(config.version.image_tags, version, history.short_sha, released)


def _refuse_rewrites(
    api: RegistryAPI, target: Target, fixed: list[str], placement: _Placement
) -> None:
    """A released version is immutable: a fixed tag on another image stops the push up front.

    Checked before anything is pushed, so nothing has moved; tags already on the candidate
    (a re-run after an interrupted push) are fine.
    """
    path = target.repository.path
    for tag in fixed:
        existing = api.digest(path, tag)
        if existing is None:
            continue
        if placement.expected is not None:
            same = existing == placement.expected
        else:  # pushed through the engine: the digest is known after the push, the image ID now
            manifest = api.manifest(path, tag) or {}
            same = (manifest.get("config") or {}).get("digest") == placement.config_digest
        if not same:
            raise RegistryError(
                f"{target.ref(tag)} exists already, on another image ({existing}): released "
                "versions are never overwritten; release a new version (`push X.Y.Z`, or "
                "`release --from version --bump patch`) or remove that tag on purpose"
            )


def _verify(api: RegistryAPI, path: str, pushed: PushedTag, placement: _Placement) -> None:
    """The registry's own answer, not the pusher's: the tag resolves to the candidate."""
    actual = api.digest(path, pushed.tag)
    if actual != placement.expected or pushed.digest != placement.expected:
        raise RegistryError(
            f"{pushed.ref} resolves to {actual} in the registry after the push, not to the "
            f"candidate's {placement.expected}; is another job pushing to {api.host}/{path}? "
            "re-run to try again"
        )
    if isinstance(placement, _EnginePush) and not placement.by_manifest:
        manifest = api.manifest(path, pushed.tag) or {}
        config_digest = manifest.get("config", {}).get("digest")
        if config_digest != placement.config_digest:
            raise RegistryError(
                f"{pushed.ref} holds config {config_digest} in the registry, not the "
                f"candidate's image {placement.config_digest}; re-run to try again"
            )
