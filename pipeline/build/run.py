"""The build step: every stage with its own cache image, then the candidate image.

A fresh CI runner has no local cache. The classic builder only reuses local images, and an
image of the final stage holds none of the builder stage's layers; so each named stage is
built with `--target` and pushed as `<image>:buildcache-<stage>`, and the next build names all
of them (and the prior release) as cache sources. buildx keeps the same in one registry cache.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.build.backends import Backend, BuildRequest, choose_backend
from pipeline.build.labels import oci_labels, weights_sha256
from pipeline.build.report import BuildReport, Layer, human_size, parse_size
from pipeline.build.stages import BuildGraph, read_graph
from pipeline.build.steps import Step, StepCallback
from pipeline.config import Config
from pipeline.engine import docker_client
from pipeline.errors import CheckFailed, PipelineError, UserError
from pipeline.gitinfo import GitInfo, git_info, open_repo
from pipeline.output import Output
from pipeline.registries import Target, resolve_target
from pipeline.registries.api import RegistryAPI
from pipeline.registries.reference import DOCKER_HUB_HOST, ImageRef
from pipeline.registries.transfer import pull, push
from pipeline.versions import highest

if TYPE_CHECKING:
    from docker.models.images import Image

BUILDX_CACHE_OPTIONS = "mode=max,image-manifest=true,oci-mediatypes=true"


@dataclass(frozen=True)
class BuildInputs:
    """Everything a build needs that is read from the project before the engine is touched."""

    context: Path
    dockerfile: Path
    graph: BuildGraph
    git: GitInfo
    target: Target
    version: str


@dataclass(frozen=True)
class BuildJob:
    """One `pipeline build`: what every backend invocation of it shares."""

    inputs: BuildInputs
    config: Config
    labels: dict[str, str]
    candidate: str
    prior: str | None
    out: Output

    def request(self, target: str | None, tags: list[str], **extra: Any) -> BuildRequest:
        image = self.config.image
        return BuildRequest(
            context=self.inputs.context,
            dockerfile=self.inputs.dockerfile,
            target=target,
            tags=tags,
            build_args=image.build_args,
            network=image.network,
            platform=image.platform,
            credentials=self.inputs.target.credentials,
            **extra,
        )


def candidate_tag(git: GitInfo) -> str:
    return f"sha-{git.short_sha}"


def read_inputs(config: Config) -> BuildInputs:
    dockerfile = config.path(config.project.dockerfile)
    context = config.path(config.project.context)
    if not dockerfile.is_file():
        raise UserError(
            f"{dockerfile}: no such Dockerfile; set project.dockerfile or run "
            "`python -m pipeline init --template cpu`"
        )
    if not context.is_dir():
        raise UserError(f"project.context: {context} is not a directory")
    git = git_info(
        config.project_dir, "the candidate tag sha-<commit> needs one (git init && git commit)"
    )
    version_file = config.path(config.version.file)
    version = version_file.read_text().strip() if version_file.is_file() else "0.0.0"
    graph = read_graph(dockerfile, config.image.target, config.image.build_args)
    return BuildInputs(context, dockerfile, graph, git, resolve_target(config), version)


def prior_release(target: Target, inputs: BuildInputs, config: Config, out: Output) -> str | None:
    """The highest semver tag of the image in the registry; git tags when it cannot say."""
    try:
        found = highest(target.api().tags(target.repository.path), prefix="")
    except PipelineError as exc:
        out.warn(f"cannot list the tags of {target.repository}: {exc}; trying git tags")
        found = None
    if found:
        return target.ref(found[0])
    repo = open_repo(config.project_dir, "the prior release comes from its tags")
    from_git = highest((t.name for t in repo.tags), prefix=config.version.tag_prefix)
    return target.ref(str(from_git[1])) if from_git else None


def _pull_cache_images(refs: list[str], target: Target, out: Output) -> list[str]:
    """Pull what exists; a missing cache image (the first build) is normal."""
    available = []
    for ref in refs:
        try:
            pull(ref, target.credentials, target.policy, out.debug)
            available.append(ref)
        except PipelineError as exc:
            out.debug(f"cache image {ref} not used: {exc}")
    return available


def _announce(out: Output, already_reported: set[str]) -> StepCallback:
    """One progress line per step as it starts; steps of stages built earlier stay quiet."""

    def on_step(step: Step) -> None:
        if step.stage not in already_reported:
            out.note(f"build: {step.label()[:120]}")

    return on_step


def _build_stages(backend: Backend, job: BuildJob) -> tuple[list[Step], str, list[str]]:
    """Build each stage with --target; returns the steps, the final image id, cache refs."""
    inputs, target = job.inputs, job.inputs.target
    prefix = "" if backend.name == "buildkit" else f"{backend.name}-"
    cache_refs = [target.ref(f"buildcache-{prefix}{stage}") for stage in inputs.graph.cache_keys]
    available = set(cache_refs + ([job.prior] if job.prior else []))
    if backend.needs_local_cache_images:
        available = set(_pull_cache_images(sorted(available), target, job.out))
    steps: list[Step] = []
    seen_stages: set[str] = set()
    image_id = ""
    order = {stage: index for index, stage in enumerate(inputs.graph.stages)}
    for index, (stage, cache_ref) in enumerate(zip(inputs.graph.stages, cache_refs, strict=True)):
        final = stage == inputs.graph.stages[-1]
        # Only this stage's and earlier stages' cache images: BuildKit (v0.8) merges the records
        # of every source, and a later stage's image holds records of the builder's steps
        # without their layers, which hid the builder's own (the base install ran again).
        sources = cache_refs[: index + 1] + ([job.prior] if final and job.prior else [])
        request = job.request(
            stage,
            [cache_ref, job.candidate] if final else [cache_ref],
            cache_from=[ref for ref in sources if ref in available],
            labels=job.labels if final else {},
        )
        outcome = backend.build(request, _announce(job.out, seen_stages))
        # A later --target build repeats the earlier stages' steps (cached); report each once,
        # in Dockerfile order (BuildKit runs independent steps in parallel).
        new = sorted(
            (s for s in outcome.steps if s.stage not in seen_stages),
            key=lambda s: (order.get(s.stage, -1), s.number),
        )
        seen_stages.update(s.stage for s in new)
        steps += new
        image_id = outcome.image_id or image_id
    return steps, image_id, cache_refs


def _base_digest(base_image: str | None, target: Target) -> str | None:
    """The base image's digest: from the local image, else from its registry (or a mirror)."""
    import docker

    if not base_image:
        return None
    client = docker_client()
    with contextlib.suppress(docker.errors.DockerException):
        digests = client.images.get(base_image).attrs.get("RepoDigests") or []
        if digests:
            return digests[0].rpartition("@")[2]
    ref = ImageRef.parse(base_image)
    hosts = [ref.host]
    if ref.host == DOCKER_HUB_HOST:
        mirrors = client.info().get("RegistryConfig", {}).get("Mirrors") or []
        hosts = [m.split("://")[-1].rstrip("/") for m in mirrors] + hosts
    credentials = target.credentials if ref.host == target.repository.host else None
    for host in hosts:
        with contextlib.suppress(PipelineError, OSError):
            digest = RegistryAPI(host, credentials).digest(
                ref.path, ref.digest or ref.tag or "latest"
            )
            if digest:
                return digest
    return None


def run_build(
    config: Config, out: Output, push_images: bool = True, version: str | None = None
) -> BuildReport:
    """Build and (unless `push_images` is false) push the candidate.

    `version` is the label's version when the caller knows the one being released; otherwise
    the project's VERSION file says.
    """
    inputs = read_inputs(config)
    docker_client()  # fail early and clearly when there is no engine
    backend = choose_backend(config.build.builder, config.build.docker_cli)
    target = inputs.target
    candidate = target.ref(candidate_tag(inputs.git))
    prior = prior_release(target, inputs, config, out)
    out.note(
        f"build: {backend.name} backend, candidate {candidate}"
        + (f", cache from prior release {prior}" if prior else ", no prior release")
    )
    labels = oci_labels(
        title=config.project_name,
        version=version or inputs.version,
        git=inputs.git,
        base_image=inputs.graph.final_base,
        base_digest=_base_digest(inputs.graph.final_base, target),
        model_sha=weights_sha256(config.path(config.project.model_dir)),
        extra=config.image.labels,
    )
    job = BuildJob(inputs, config, labels, candidate, prior, out)
    started = time.monotonic()
    if backend.name == "buildx":
        steps, image_id, cache_refs, digest = _build_with_buildx(backend, job, push_images)
    else:
        steps, image_id, cache_refs = _build_stages(backend, job)
        digest = None
    image = _local_image(image_id)
    size = int(image.attrs.get("Size", 0)) if image else 0
    # Checked before our push, so an image over budget never becomes a candidate. buildx
    # pushes by itself and leaves no local image: its budget is checked below, after the push.
    _check_budget(config, candidate, size, f"docker history {image_id[:19]}")
    bytes_pushed = None
    if push_images and backend.name != "buildx":
        bytes_pushed = 0
        for ref in _cache_images_to_push(inputs, cache_refs, steps, target):
            out.note(f"build: pushing cache image {ref}")
            bytes_pushed += push(ref, target.credentials, target.policy, out.note).bytes_sent
        out.note(f"build: pushing {candidate}")
        pushed = push(candidate, target.credentials, target.policy, out.note)
        bytes_pushed += pushed.bytes_sent
        digest = pushed.digest
    report = BuildReport(
        backend=backend.name,
        image=candidate,
        image_id=image_id,
        digest=digest,
        pushed=push_images,
        steps=steps,
        seconds=time.monotonic() - started,
        size=size,
        layers=[
            Layer(created_by=entry.get("CreatedBy", ""), size=int(entry.get("Size", 0)))
            for entry in (image.history() if image else [])
        ],
        labels=labels,
        prior=prior,
        bytes_pushed=bytes_pushed,
        cache_images=cache_refs,
        warnings=list(out.warnings),
    )
    if push_images:
        api = target.api()
        report.compressed_size = api.compressed_size(
            target.repository.path, candidate_tag(inputs.git)
        )
        if prior:
            report.prior_compressed_size = api.compressed_size(
                target.repository.path, prior.rpartition(":")[2]
            )
        if image is None:
            where = f"docker buildx imagetools inspect {candidate}"
            _check_budget(config, candidate, report.compressed_size or 0, where)
    return report


def _check_budget(config: Config, candidate: str, size: int, where: str) -> None:
    if config.build.max_image_size and size > parse_size(config.build.max_image_size):
        raise CheckFailed(
            f"image {candidate} is {human_size(size)}, over build.max_image_size "
            f"{config.build.max_image_size}; see the largest layers with `{where}`"
        )


def _cache_images_to_push(
    inputs: BuildInputs, cache_refs: list[str], steps: list[Step], target: Target
) -> list[str]:
    """Cache images of the stages that changed, or that the registry does not hold yet.

    Re-pushing a stage that BuildKit (v0.8, engine 20.10) assembled wholly from imported cache
    breaks the chain: the next fresh runner found no step of that stage in its inline cache.
    The image already in the registry has the same layers and metadata that still work.
    """
    api = target.api()
    changed = {step.stage for step in steps if step.counts_for_cache and not step.cached}
    chosen = []
    for stage, ref in zip(inputs.graph.cache_keys, cache_refs, strict=True):
        stage_steps = [s for s in steps if s.stage == stage and s.counts_for_cache]
        unchanged = stage_steps and stage not in changed
        if not unchanged or api.digest(target.repository.path, ref.rpartition(":")[2]) is None:
            chosen.append(ref)
    return chosen


def _local_image(image_id: str | None) -> Image | None:
    import docker

    if not image_id:
        return None
    try:
        return docker_client().images.get(image_id)
    except docker.errors.ImageNotFound:
        return None  # buildx --push leaves nothing in the local image store


def _build_with_buildx(
    backend: Backend, job: BuildJob, push_images: bool
) -> tuple[list[Step], str, list[str], str | None]:
    """One buildx run: its registry cache (mode=max) holds every stage; it pushes itself."""
    cache_ref = job.inputs.target.ref("buildcache")
    outcome = backend.build(
        job.request(
            job.inputs.graph.stages[-1],
            [job.candidate],
            cache_from=[cache_ref] + ([job.prior] if job.prior else []),
            labels=job.labels,
            cache_to=f"type=registry,ref={cache_ref},{BUILDX_CACHE_OPTIONS}",
            push=push_images,
        ),
        _announce(job.out, set()),
    )
    return outcome.steps, outcome.image_id or "", [cache_ref], outcome.digest
