"""Promotion: the candidate gets the version's tags, in an order that makes failure safe.

The fixed tags (X.Y.Z, sha-...) first, the moving ones (X.Y, X, latest) last, each verified in
the registry before the next. If anything fails, the moving tags were not touched, and a re-run
completes the set: every step is idempotent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import semver

from pipeline.config.schema import Config
from pipeline.console.output import Output
from pipeline.core.errors import CheckFailed, RegistryError, UserError
from pipeline.core.sizes import human_size, parse_size
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import ImageRef
from pipeline.project.worktree import build_source, first_few, read_build_context
from pipeline.promotion.placement import (
    EnginePush,
    Placement,
    RegistryCopy,
    config_digest,
)
from pipeline.promotion.report import PushedTag, PushReport
from pipeline.registries import Target, resolve_target
from pipeline.versioning.current import read_current
from pipeline.versioning.history import History, read_history
from pipeline.versioning.image_tags import ImageTags, candidate, image_tags
from pipeline.versioning.versions import parse_version, release_versions


@dataclass(frozen=True)
class Promotion:
    """What a push promotes and where, decided once by its caller (`plan_push` for the push
    command, the plan for the release's push step): promoting decides none of it again."""

    target: Target
    history: History  # the release tags in git: what the moving tags follow
    version: semver.Version
    candidate: ImageRef


def plan_push(
    config: Config, version: str | None, image: str | None = None, digest: str | None = None
) -> Promotion:
    """`push`'s inputs: `version` (default: the current one) for the candidate named by `image`,
    by `digest` in the target repository, or else this commit's (`commit_candidate`)."""
    parsed = release_version(version) if version else read_current(config)
    target = resolve_target(config)
    if digest:
        source = target.repository.with_digest(digest)
    elif image:
        source = ImageRef.parse(image)
    else:
        source = commit_candidate(config, target)
    return Promotion(target, read_history(config, os.environ), parsed, source)


def release_version(text: str) -> semver.Version:
    parsed = parse_version(text)
    if parsed is None:
        raise UserError(f"version {text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    return parsed


def commit_candidate(config: Config, target: Target) -> ImageRef:
    """This commit's candidate, which push promotes by default.

    The same name build pushes and smoke tests, by the same rule; but a dirty one is refused: an
    image is exactly its commit or says it is not, and a version and `sha-<commit>` would say
    it is. So a tree changed since the build (or `build --allow-dirty`) names its image itself.
    """
    needed_for = "the default candidate names a commit; pass --image or --digest"
    build = read_build_context(config, needed_for)
    source = build_source(config, build, needed_for)
    if source.dirty:
        changed = build.changes or ()
        raise UserError(
            f"the build context differs from commit {source.short_sha} ({len(changed)} file(s): "
            f"{first_few(changed)}): "
            f"its candidate {candidate(target.staging, source)} is not a commit's image, and "
            "a release never names one; commit (then build and smoke test), or name the image "
            "to release with --image or --digest"
        )
    return candidate(target.staging, source)


def promote(
    config: Config,
    out: Output,
    promotion: Promotion,
    on_pushed: Callable[[PushedTag], None] | None = None,
) -> PushReport:
    """Give `promotion.candidate` the image tags of `promotion.version`.

    `on_pushed` is called after each tag is pushed and verified, fixed tags first.
    """
    target, source = promotion.target, promotion.candidate
    api = target.api(note=out.note)
    path = target.repository.path
    placement: Placement = (
        RegistryCopy(api, path, source)
        if source.host == target.repository.host
        else EnginePush(target, source, out)
    )
    if isinstance(placement, RegistryCopy):
        _refuse_over_budget(config, api, path, source)
    tags = release_tags(config, api, path, promotion.history, promotion.version)
    report = PushReport(
        registry=target.kind,
        repository=str(target.repository),
        version=str(promotion.version),
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
        pushed = PushedTag(
            tag, target.ref(tag), _place(api, path, tag, placement), tag in tags.moving
        )
        _verify(api, path, pushed, placement)
        report.pushed.append(pushed)
        out.note(f"push: {pushed.ref} -> {pushed.digest}")
        if on_pushed:
            on_pushed(pushed)
    report.digest = placement.expected or ""
    report.config_digest = placement.config_digest
    report.signatures = _carry_signatures(target, source, placement, out)
    return report


def _carry_signatures(
    target: Target, source: ImageRef, placement: Placement, out: Output
) -> list[str]:
    """The candidate's cosign signatures and attestations, copied to the target repository: they
    name the digest, so they hold wherever the same digest is. An image in no registry (a local
    one) has none; an engine that re-encoded the manifest made another digest they do not name."""
    digest = placement.expected
    if not (isinstance(placement, RegistryCopy) or source.digest) or digest is None:
        return []
    from pipeline.signing.layout import carry, cosign_tag

    origin = RegistryAPI(source.host, target.keychain.resolve(source.host), target.policy)
    if source.digest and source.digest != digest:
        if origin.digest(source.path, cosign_tag(source.digest, "sig")) is None:
            return []  # nothing signed, nothing lost
        out.warn(
            f"push: {target.repository} holds the image as {digest}, not the candidate's "
            f"{source.digest} (the engine re-encoded it): signatures of the candidate do not "
            "apply there; promote within one registry (or on the containerd image store)"
        )
        return []
    api = target.api()
    carried = carry(origin, source.path, api, target.repository.path, digest).tags
    if carried:
        out.note(f"push: {', '.join(carried)} carried to {target.repository}")
    return list(carried)


def _refuse_over_budget(config: Config, api: RegistryAPI, path: str, source: ImageRef) -> None:
    """The build's size budget, measured again: a candidate build refused stays in the registry
    (buildx pushes as it builds), and nothing else marks it refused."""
    limit = config.build.max_image_size
    size = api.compressed_size(path, source.reference or "latest") if limit else None
    if limit and size is not None and size > parse_size(limit):
        raise CheckFailed(
            f"candidate {source} is {human_size(size)} (compressed, in the registry), over "
            f"build.max_image_size {limit}: build refused it, and push promotes no image build "
            "refused; nothing was pushed. Make the image smaller, or raise the limit on purpose"
        )


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


def _place(api: RegistryAPI, path: str, tag: str, placement: Placement) -> str:
    """`tag` on the candidate; one already there (a retried job) is left as it is, as an
    IMMUTABLE repository (ECR) refuses even the same manifest under an existing tag."""
    if placement.expected is not None and api.digest(path, tag) == placement.expected:
        return placement.expected
    return placement.put(tag)


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
