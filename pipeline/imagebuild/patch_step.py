"""The build step's patch path: whether to take it, and its report.

Taken only when it can be: `build.patch: auto`, a clean tree and a push (the patch writes to the
registry, never to an engine). Otherwise, or when the proof does not hold, the reason is what
the full build's report gives for its path.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.config.schema import Config
from pipeline.distribution.reference import ImageRef
from pipeline.imagebuild.fingerprint import BuildProof
from pipeline.imagebuild.patch import Patched, PatchRequest, SpliceBuild, UnusablePrior, patch
from pipeline.imagebuild.patchable import PatchPlan, Unpatchable
from pipeline.imagebuild.prior import ancestor_tags
from pipeline.imagebuild.report import BuildReport, registry_layers
from pipeline.project.buildcontext import BuildContext
from pipeline.project.gitinfo import GitInfo
from pipeline.registries import Target


def try_patch(
    config: Config,
    build: BuildContext,
    target: Target,
    candidate: ImageRef,
    git: GitInfo,
    plan: PatchPlan,
    proof: BuildProof,
    labels: dict[str, str],
    push: bool,
    release: str | None,
    warn: Callable[[str], None],
    splice: SpliceBuild | None = None,
) -> Patched | str:
    """The patched candidate, or why a full build is needed. `release` is the prior release's
    tag: the start when no recent ancestor commit has a candidate; `splice` builds a splice's
    stage. A prior image that is not ours is also `warn`ed of."""
    if config.build.patch == "off":
        return "build.patch is off"
    if not push:
        return "--no-push: a patch is made in the registry only"
    if git.dirty:
        return "the build context differs from the commit"
    priors = ancestor_tags(config.project_dir)
    request = PatchRequest(
        api=target.api(),
        path=target.staging.path,
        tag=candidate.tag or "",
        priors=priors + ([release] if release and release not in priors else []),
        build=build,
        plan=plan,
        proof=proof,
        labels=labels,
        committed_at=git.committed_at,
        compression=config.build.compression,
        splice=splice,
    )
    try:
        return patch(request)
    except UnusablePrior as exc:
        warn(f"{exc}; building in full")
        return str(exc)
    except Unpatchable as exc:
        return str(exc)


def patch_report(
    target: Target,
    candidate: ImageRef,
    patched: Patched,
    labels: dict[str, str],
    prior: ImageRef | None,
    seconds: float,
) -> BuildReport:
    api = target.api()
    report = BuildReport(
        backend="registry",
        builder=f"patch of {target.staging.with_tag(patched.prior)}",
        image=str(candidate),
        image_id=None,
        digest=patched.image.digest,
        pushed=True,
        steps=patched.steps,
        seconds=seconds,
        size=None,
        layers=registry_layers(patched.image),
        labels=labels,
        prior=str(prior) if prior else None,
        compressed_size=sum(descriptor.size for descriptor in patched.image.layers),
        path="patch",
        path_reason=f"only {', '.join(patched.redone) or 'labels'} changed since {patched.prior}",
        patched_layers=patched.redone,
    )
    if prior:
        report.prior_compressed_size = api.compressed_size(prior.path, prior.tag or "")
    return report
