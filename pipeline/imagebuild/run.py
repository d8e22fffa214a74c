"""The build step: one buildx run that imports and exports the registry cache and pushes.

A fresh CI runner has no local cache. buildx's registry cache (`mode=min` or `mode=max`, as
`cachemode` decides from the Dockerfile) lets it rebuild only what changed and pull none of the
builder stages' layers. The candidate is pushed as `<image>:sha-<commit>` by buildx itself,
with timestamps and labels taken from the commit, so building the same commit again (a retried
CI job on a wiped runner) gives the same digest.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from pipeline.config.schema import Config
from pipeline.console.output import Output
from pipeline.core.errors import CheckFailed, PipelineError, RegistryError, UserError
from pipeline.core.sizes import human_size, parse_size
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import DOCKER_HUB_HOST, ImageRef
from pipeline.engine.client import docker_client, engine_endpoint, pulls_zstd, store_of
from pipeline.imagebuild.build_secrets import secret_args
from pipeline.imagebuild.buildx import BuildFailed, BuildRequest, Buildx, find_buildx
from pipeline.imagebuild.cachemode import CacheMode, decide_cache_mode
from pipeline.imagebuild.candidate import check_unchanged
from pipeline.imagebuild.fingerprint import BuildProof, ProofInputs, prove
from pipeline.imagebuild.labels import oci_labels, weights_sha256
from pipeline.imagebuild.patch import Patched
from pipeline.imagebuild.patch_step import patch_report, try_patch
from pipeline.imagebuild.patchable import PatchPlan, SpliceSpec, read_plan
from pipeline.imagebuild.record import record_built
from pipeline.imagebuild.report import BuildReport, Layer, registry_layers
from pipeline.imagebuild.splice import build_stage
from pipeline.imagebuild.stages import BuildGraph, read_graph
from pipeline.imagebuild.steps import Step, StepCallback
from pipeline.oci.image import Image as OciImage
from pipeline.oci.layer import Layer as OciLayer
from pipeline.oci.remote import read_image
from pipeline.project.buildcontext import BuildContext
from pipeline.project.gitinfo import GitInfo, open_repo
from pipeline.project.worktree import build_source, read_build_context, refuse_dirty
from pipeline.registries import Target, resolve_target
from pipeline.secrets import (
    allowances,
    check_build_args,
    check_build_context,
    check_lfs_pointers,
)
from pipeline.versioning.current import read_current
from pipeline.versioning.image_tags import candidate, stage_tag
from pipeline.versioning.versions import highest

if TYPE_CHECKING:
    from docker.models.images import Image

CACHE_TAG = "buildcache"


@dataclass(frozen=True)
class BuildInputs:
    """Everything a build needs that is read from the project before the engine is touched."""

    build: BuildContext  # read once: the scan, the dirty check, the proof and the patch share it
    graph: BuildGraph
    git: GitInfo
    target: Target
    version: str


def read_inputs(config: Config, target: Target | None = None) -> BuildInputs:
    """`target`: where the candidate goes, when the caller resolved it already (a release)."""
    dockerfile = config.path(config.project.dockerfile)
    context = config.path(config.project.context)
    if not dockerfile.is_file():
        raise UserError(
            f"{dockerfile}: no such Dockerfile; set project.dockerfile or run "
            "`python -m pipeline init --template cpu`"
        )
    if not context.is_dir():
        raise UserError(f"project.context: {context} is not a directory")
    needed_for = "the candidate tag sha-<commit> needs one (git init && git commit)"
    build = read_build_context(config, needed_for)
    git = build_source(config, build, needed_for)
    version = str(read_current(config))
    graph = read_graph(dockerfile, config.image.target, config.image.build_args)
    return BuildInputs(build, graph, git, target or resolve_target(config), version)


def prior_release(
    target: Target, inputs: BuildInputs, config: Config, out: Output
) -> ImageRef | None:
    """The highest semver tag of the image in the registry; git tags when it cannot say."""
    try:
        found = highest(target.api().tags(target.repository.path), prefix="")
    except PipelineError as exc:
        out.warn(f"cannot list the tags of {target.repository}: {exc}; trying git tags")
        found = None
    if found:
        return target.repository.with_tag(found[0])
    repo = open_repo(config.project_dir, "the prior release comes from its tags")
    from_git = highest((t.name for t in repo.tags), prefix=config.version.tag_prefix)
    return target.repository.with_tag(str(from_git[1])) if from_git else None


def _announce(out: Output) -> StepCallback:
    """One progress line per step as it starts."""

    def on_step(step: Step) -> None:
        out.note(f"build: {step.label()[:120]}")

    return on_step


def _base_digest(base_image: str | None, target: Target) -> str | None:
    """The base image's digest: from the local image, else from its registry (or a mirror)."""
    import docker

    if not base_image:
        return None
    client = docker_client()
    with contextlib.suppress(docker.errors.DockerException):
        digests = client.images.get(base_image).attrs.get("RepoDigests") or []
        if digests:
            return ImageRef.parse(digests[0]).digest
    ref = ImageRef.parse(base_image)
    hosts = [ref.host]
    if ref.host == DOCKER_HUB_HOST:
        mirrors = client.info().get("RegistryConfig", {}).get("Mirrors") or []
        hosts = [m.split("://")[-1].rstrip("/") for m in mirrors] + hosts
    for host in hosts:
        # Each registry its own login: Docker Hub's never goes to a mirror.
        with contextlib.suppress(PipelineError, OSError):
            digest = RegistryAPI(host, target.keychain.resolve(host)).digest(
                ref.path, ref.digest or ref.tag or "latest"
            )
            if digest:
                return digest
    return None


@dataclass(frozen=True)
class Prepared:
    """The candidate, its labels and the patch's proof: read before the engine builds anything,
    the same for both paths."""

    inputs: BuildInputs
    candidate: ImageRef
    prior: ImageRef | None
    labels: dict[str, str]
    patchable: PatchPlan
    proof: BuildProof


def prepare(
    config: Config, out: Output, version: str | None = None, target: Target | None = None
) -> Prepared:
    """Read and check the project, and decide the candidate and its labels.

    `version` is the label's version when the caller knows the one being released; otherwise
    the project's VERSION file says. `target` as for `read_inputs`.
    """
    inputs = read_inputs(config, target)
    # What the engine would receive, before anything is built or pushed.
    allow = allowances(config)
    check_build_context(inputs.build, allow)
    check_build_args(config.image.build_args, allow)
    check_lfs_pointers(inputs.build)
    # After the secret scan: "commit them" must never be the advice for a key left there.
    refuse_dirty(config, inputs.git, inputs.build)
    target = inputs.target
    patchable = read_plan(inputs.build.dockerfile, config.image.target, config.image.build_args)
    bases = {image: _base_digest(image, target) for image in patchable.bases}
    proof = prove(
        ProofInputs(
            build=inputs.build,
            build_args=config.image.build_args,
            target=config.image.target,
            platform=config.image.platform,
            labels=config.image.labels,
            base_digests=bases,
        ),
        patchable,
    )
    labels = oci_labels(
        title=config.project_name,
        version=version or inputs.version,
        git=inputs.git,
        base_image=inputs.graph.final_base,
        base_digest=bases.get(inputs.graph.final_base or ""),
        model_sha=weights_sha256(config.path(config.project.model_dir)),
        extra=config.image.labels,
    )
    image = candidate(target.staging, inputs.git)
    prior = prior_release(target, inputs, config, out)
    return Prepared(inputs, image, prior, {**labels, **proof.labels}, patchable, proof)


@dataclass(frozen=True)
class BuildPlan:
    """What will be built and where it goes, decided before the engine runs anything."""

    inputs: BuildInputs
    builder: Buildx
    request: BuildRequest
    prior: ImageRef | None
    api: RegistryAPI
    cache: ImageRef  # this commit's own cache export
    cache_mode: CacheMode


def plan_build(
    config: Config,
    out: Output,
    prepared: Prepared,
    push_images: bool = True,
    in_engine: bool = False,
) -> BuildPlan:
    """Find buildx and decide the cache. `in_engine`: a pushed candidate is also kept in the
    engine's image store (something runs it here next); an unpushed one always is
    (`Buildx.keeps`)."""
    inputs = prepared.inputs
    # Also fails early and clearly when there is no engine.
    info = docker_client().info()
    buildx = find_buildx(config.build.docker_cli, store_of(info), config.build.builder)
    if config.build.compression == "zstd" and not pulls_zstd(info):
        raise UserError(
            f"build.compression: zstd, and the engine at {engine_endpoint(os.environ)} is "
            f"Docker {info.get('ServerVersion')}, which cannot pull zstd layers (Docker 23 and "
            "later can): the smoke test pulls the image into it. Set build.compression: gzip, "
            "or upgrade the engine"
        )
    target = inputs.target
    image, prior = prepared.candidate, prepared.prior
    out.note(
        f"build: buildx ({buildx.why}), candidate {image}"
        + (f", prior release {prior}" if prior else ", no prior release")
    )
    # This commit's own export: a retried job finds it; `buildcache` follows it when complete.
    commit_cache = target.staging.with_tag(f"{CACHE_TAG}-{image.tag}")
    api = target.api()
    mode = decide_cache_mode(
        config.build.cache_mode,
        inputs.build.dockerfile,
        inputs.graph.stages[-1],
        config.image.build_args,
    )
    cache_from = _existing(api, target, [target.staging.with_tag(CACHE_TAG), commit_cache])
    request = BuildRequest(
        context=inputs.build.context,
        dockerfile=inputs.build.dockerfile,
        target=inputs.graph.stages[-1],
        tag=str(image),
        cache_from=[str(ref) for ref in [*cache_from, *([prior] if prior else [])]],
        cache_to=str(commit_cache) if push_images else None,
        build_args=config.image.build_args,
        labels=prepared.labels,
        network=config.image.network,
        platform=config.image.platform,
        push=push_images,
        in_engine=in_engine,
        source_date_epoch=inputs.git.committed_at,
        compression=config.build.compression,
        cache_mode=mode.mode,
        # Every registry the build reads or writes: the target (candidate, caches), the bases.
        secrets=secret_args(config, os.environ),
        logins=target.keychain.logins(
            [target.repository.host, *(ImageRef.parse(b).host for b in prepared.patchable.bases)]
        ),
    )
    return BuildPlan(inputs, buildx, request, prior, api, commit_cache, mode)


def execute(plan: BuildPlan, out: Output) -> BuildReport:
    """Run the build; the report of what it did, read from buildx and the engine."""
    if plan.request.cache_to:
        out.note(f"build: cache export mode={plan.cache_mode.mode} ({plan.cache_mode.reason})")
    started = time.monotonic()
    outcome = plan.builder.build(plan.request, _announce(out))
    seconds = time.monotonic() - started
    image = _local_image(plan.request.tag) if plan.builder.keeps(plan.request) else None
    if image:
        layers = [
            Layer(created_by=entry.get("CreatedBy", ""), size=int(entry.get("Size", 0)))
            for entry in image.history()
        ]
    elif plan.request.push:
        layers = registry_layers(_pushed_image(plan, outcome.digest))
    else:
        layers = []
    return BuildReport(
        backend="buildx",
        builder=plan.builder.why,
        image=plan.request.tag,
        image_id=image.id if image else None,
        digest=outcome.digest,
        pushed=plan.request.push,
        steps=_in_dockerfile_order(outcome.steps, plan.inputs.graph),
        seconds=seconds,
        # Unpacked: the containerd image store's own `Size` is the compressed content's.
        size=sum(layer.size for layer in layers) if image else None,
        layers=layers,
        labels=plan.request.labels,
        prior=str(plan.prior) if plan.prior else None,
        cache_images=[],
        warnings=list(out.warnings),
        cache_mode=plan.cache_mode.mode if plan.request.cache_to else None,
        cache_mode_reason=plan.cache_mode.reason if plan.request.cache_to else "",
    )


def publish(plan: BuildPlan, report: BuildReport) -> None:
    """After a pushed build: record that the candidate is ours, repoint the cache when its
    export is complete, record sizes."""
    if not plan.request.push or plan.request.cache_to is None:
        return
    target = plan.inputs.target
    pushed = plan.api.raw_manifest(target.staging.path, ImageRef.parse(report.image).tag or "")
    # What the tag holds now is ours only if it is what buildx said it pushed.
    if pushed is not None and pushed.digest == report.digest:
        record_built(plan.api, target.staging.path, pushed)
    report.cache_images = _publish_cache(
        plan.api, target, plan.cache, plan.cache_mode.mode, report.steps, plan.inputs.graph
    )
    report.compressed_size = plan.api.compressed_size(target.staging.path, report.digest or "")
    if plan.prior and plan.prior.tag:
        report.prior_compressed_size = plan.api.compressed_size(plan.prior.path, plan.prior.tag)


def run_build(
    config: Config,
    out: Output,
    push_images: bool = True,
    version: str | None = None,
    target: Target | None = None,
    in_engine: bool = False,
) -> BuildReport:
    """Patch the prior image in the registry where that is proven equal, else build and (unless
    `push_images` is false) push the candidate with its cache. `version`, `target`: as for
    `prepare`; `in_engine`: as for `plan_build`."""
    prepared = prepare(config, out, version, target)
    inputs, prior = prepared.inputs, prepared.prior
    if push_images and not inputs.git.dirty:
        check_unchanged(inputs.target, prepared.candidate, prepared.proof, config.build.compression)
    started = time.monotonic()
    attempt = try_patch(
        config,
        inputs.build,
        inputs.target,
        prepared.candidate,
        inputs.git,
        prepared.patchable,
        prepared.proof,
        prepared.labels,
        push_images,
        prior.tag if prior else None,
        out.warn,
        partial(_splice, config, out, prepared),
    )
    if isinstance(attempt, Patched):
        seconds = time.monotonic() - started
        report = patch_report(
            inputs.target, prepared.candidate, attempt, prepared.labels, prior, seconds
        )
    else:
        out.note(f"build: full build: {attempt}")
        plan = plan_build(config, out, prepared, push_images, in_engine)
        report = execute(plan, out)
        report.path_reason = attempt
        publish(plan, report)
    _check_budget(config, report)
    return report


def _splice(
    config: Config, out: Output, prepared: Prepared, spec: SpliceSpec
) -> tuple[OciLayer, list[Step]]:
    """Build a splice's stage with the settings the full build would use."""
    plan = plan_build(config, out, prepared)
    out.note(f"build: only stage {spec.stage}'s inputs changed: building it alone")
    tag = plan.inputs.target.staging.with_tag(stage_tag(plan.inputs.git.sha, spec.stage))
    ignore_file = plan.inputs.build.ignore_file
    return build_stage(plan.builder, plan.request, plan.api, spec, tag, ignore_file, _announce(out))


def _existing(api: RegistryAPI, target: Target, refs: list[ImageRef]) -> list[ImageRef]:
    """The cache images the registry holds: BuildKit resolves every cache source at once, and a
    missing one (the first build, a commit's first run) only adds an error to its log."""
    try:
        return [ref for ref in refs if api.digest(target.staging.path, ref.tag or "")]
    except PipelineError:
        return refs  # the registry cannot say now: let buildx try, and warn as it does


def _publish_cache(
    api: RegistryAPI,
    target: Target,
    commit_cache: ImageRef,
    mode: str,
    steps: list[Step],
    graph: BuildGraph,
) -> list[str]:
    """Point `buildcache` at this build's cache export when the export is complete: a `min`
    one always is (it holds the image's own layers, every one of which the build had).

    BuildKit (0.13, also current releases: moby/buildkit#6893) drops from a `mode=max` export
    the records of a stage the target only copies from (`COPY --from=builder`) when every step
    of that stage was a cache hit it never had to load: after a code-only build, the next
    app-dependency change re-ran the base install. Such an export stays under this commit's
    own tag; `buildcache` keeps the last export in which every copied stage was built (loaded).
    """
    path = target.staging.path
    ran = {step.stage for step in steps if step.counts_for_cache and not step.cached}
    complete = mode == "min" or graph.copied <= ran or api.digest(path, CACHE_TAG) is None
    manifest = api.raw_manifest(path, commit_cache.tag or "") if complete else None
    if manifest is None:
        return [str(commit_cache)]
    api.put_manifest(path, CACHE_TAG, manifest)
    return [str(commit_cache), str(target.staging.with_tag(CACHE_TAG))]


def _in_dockerfile_order(steps: list[Step], graph: BuildGraph) -> list[Step]:
    """BuildKit runs independent steps in parallel; the report lists them as written."""
    order = {stage: index for index, stage in enumerate(graph.progress_names)}
    return sorted(steps, key=lambda s: (order.get(s.stage, -1), s.number))


def _check_budget(config: Config, report: BuildReport) -> None:
    """The compressed size in the registry (what every pull moves), else the local size.

    buildx pushes as it builds, so a pushed candidate over budget is already in the registry:
    the step fails (exit 2), and neither `release` nor `push` promotes it.
    """
    limit = config.build.max_image_size
    size = report.compressed_size if report.pushed else report.size
    if limit and size is not None and size > parse_size(limit):
        where = "compressed, in the registry" if report.pushed else "in the engine"
        inspect = "docker buildx imagetools inspect" if report.pushed else "docker history"
        raise CheckFailed(
            f"image {report.image} is {human_size(size)} ({where}), over build.max_image_size "
            f"{limit}; the report lists its largest layers, and `{inspect} {report.image}` "
            "all of them"
        )


def _pushed_image(plan: BuildPlan, digest: str | None) -> OciImage:
    """The candidate buildx says it pushed, read back from the registry."""
    path = plan.inputs.target.staging.path
    try:
        return read_image(plan.api, path, digest or "")
    except RegistryError as exc:
        raise BuildFailed(
            f"buildx said it pushed {plan.request.tag} ({digest or 'no digest'}), and "
            f"registry {plan.api.host} cannot give it back: {exc}"
        ) from exc


def _local_image(ref: str) -> Image | None:
    """The candidate in the engine's image store, where the build kept it (`Buildx.keeps`)."""
    import docker

    try:
        return docker_client().images.get(ref)
    except docker.errors.DockerException:
        return None
