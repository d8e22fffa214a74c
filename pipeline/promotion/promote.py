"""Promotion: the candidate gets the version's tags, in an order that makes failure safe.

The fixed tags (X.Y.Z, sha-...) first, the moving ones (X.Y, X, latest) last, each verified in
the registry before the next. If anything fails, the moving tags were not touched, and a re-run
completes the set: every step is idempotent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.config.schema import Config
from pipeline.console.output import Output
from pipeline.core.errors import RegistryError, UserError
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import ImageRef
from pipeline.project.gitinfo import git_info
from pipeline.promotion.placement import (
    EnginePush,
    Placement,
    RegistryCopy,
    config_digest,
)
from pipeline.promotion.report import PushedTag, PushReport
from pipeline.registries import Target, resolve_target
from pipeline.versioning.history import History, read_history
from pipeline.versioning.image_tags import ImageTags, candidate_tag, image_tags
from pipeline.versioning.versions import parse_version, release_versions

if TYPE_CHECKING:
    import semver


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
        else target.repository.with_tag(
            candidate_tag(git_info(config.project_dir, "the default candidate names a commit"))
        )
    )
    placement: Placement = (
        RegistryCopy(api, path, source)
        if source.same_repository(target.repository)
        else EnginePush(target, source, out)
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
    api: RegistryAPI, target: Target, fixed: list[str], placement: Placement
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
            same = config_digest(api, path, tag) == placement.config_digest
        if not same:
            raise RegistryError(
                f"{target.ref(tag)} exists already, on another image ({existing}): released "
                "versions are never overwritten; release a new version (`push X.Y.Z`, or "
                "`release --from version --bump patch`) or remove that tag on purpose"
            )


def _verify(api: RegistryAPI, path: str, pushed: PushedTag, placement: Placement) -> None:
    """The registry's own answer, not the pusher's: the tag resolves to the candidate."""
    actual = api.digest(path, pushed.tag)
    if actual != placement.expected or pushed.digest != placement.expected:
        raise RegistryError(
            f"{pushed.ref} resolves to {actual} in the registry after the push, not to the "
            f"candidate's {placement.expected}; is another job pushing to {api.host}/{path}? "
            "re-run to try again"
        )
    if placement.by_config:
        found = config_digest(api, path, pushed.tag)
        if found != placement.config_digest:
            raise RegistryError(
                f"{pushed.ref} holds config {found} in the registry, not the "
                f"candidate's image {placement.config_digest}; re-run to try again"
            )
