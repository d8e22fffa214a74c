"""The release's step functions. Each carries out `run.plan` (what the preflight decided) and
reads and extends `run.state`; raising stops the release."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.config.schema import Config
from pipeline.console.output import Output
from pipeline.core.errors import CheckFailed, UserError
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import ImageRef
from pipeline.release.preflight import NO_CANDIDATE, ReleasePlan
from pipeline.release.state import ReleaseState

if TYPE_CHECKING:
    from pipeline.registries import Target

# Skipped when the version step decides there is nothing to release.
RELEASING_STEPS = ("sign", "push", "tag")


@dataclass(frozen=True)
class ReleaseRun:
    config: Config
    out: Output
    state: ReleaseState
    plan: ReleasePlan
    # The smoke step runs after the build in this run, on this engine: a full build keeps the
    # candidate there rather than have smoke pull it back. Not when smoke is a later job's.
    smokes_here: bool

    @property
    def target(self) -> Target:
        assert self.plan.target is not None  # resolved for every step that goes to the registry
        return self.plan.target

    def candidate(self) -> ImageRef:
        """The image built (or named with --candidate): the state's, pinned by digest."""
        if not self.state.candidate:
            raise UserError(NO_CANDIDATE)
        return ImageRef.parse(self.state.candidate)


def check_split(run: ReleaseRun) -> None:
    from pipeline.project.dockerfile import parse_file
    from pipeline.requirements import split_from_config, stale_message, stale_outputs
    from pipeline.requirements.split import SPLIT_FILES, uses_split_files

    dockerfile = run.config.path(run.config.project.dockerfile)
    if dockerfile.is_file() and not uses_split_files(parse_file(dockerfile)):
        run.out.note(
            f"split: not checked: {run.config.project.dockerfile} installs neither "
            f"{' nor '.join(SPLIT_FILES)} (lint's ML013 says when splitting would help)"
        )
        return
    result = split_from_config(run.config)
    stale = stale_outputs(result)
    if stale:
        raise CheckFailed(stale_message(result, stale))


def lint(run: ReleaseRun) -> None:
    from pipeline.lint import Severity
    from pipeline.lint.linter import lint_targets, project_target, raise_if_failing
    from pipeline.lint.report import render_text

    fail_on = Severity.parse(run.config.lint.fail_on)
    reports = lint_targets(run.config, run.out, [project_target(run.config)], [])
    if any(report.findings for report in reports):
        run.out.note(render_text(reports, fail_on))
    raise_if_failing(reports, fail_on)


def build(run: ReleaseRun) -> None:
    from pipeline.imagebuild.run import run_build

    # A release is of a commit: build.allow_dirty is for builds by hand, never for a release.
    config = dataclasses.replace(
        run.config, build=dataclasses.replace(run.config.build, allow_dirty=False)
    )
    # The image's version label names the version being released.
    report = run_build(
        config, run.out, version=run.plan.version, target=run.target, in_engine=run.smokes_here
    )
    run.state.candidate = str(ImageRef.parse(report.image).with_digest(report.digest or ""))
    run.state.facts.update(
        build_backend=report.backend,
        build_seconds=report.seconds,
        cache_hit_ratio=report.cache_hit_ratio,
        image_size=report.size,
        compressed_size=report.compressed_size,
        build_path=report.path,
        builder=report.builder,
        prior_image=report.prior,
    )


def smoke(run: ReleaseRun) -> None:
    if not run.config.smoke.enabled:
        run.out.note("smoke: off (smoke.enabled is false)")
        return
    from pipeline.smoke.run import run_smoke

    report = run_smoke(run.config, run.out, run.candidate(), run.target)
    run.state.facts.update(
        latency_ms=report.latency_ms, gpu=report.gpu, smoke_seconds=report.seconds
    )
    # What the sign step attests of the digest tested.
    run.state.facts["smoke"] = report.as_dict()


def version(run: ReleaseRun) -> None:
    from pipeline.versioning import write_version

    decision = run.plan.decision
    assert decision is not None  # the preflight decides it for this step
    if decision.version is None:
        run.state.no_release_reason = decision.reason
        run.out.note(f"version: no release ({decision.reason})")
        return
    write_version(run.config, decision.version)
    run.state.version = str(decision.version)
    run.state.tags = decision.tags
    run.out.note(f"version: {decision.version} ({decision.reason})")


def sign(run: ReleaseRun) -> None:
    """Sign the smoke-tested digest and attest it (provenance, SBOM, smoke result) in its own
    repository, before any version tag: promotion carries them with the image."""
    signer = run.plan.signer
    if signer is None:
        run.out.note("sign: off (no sign.key, sign.keyless false)")
        return
    from pipeline.signing.sign import sign_image
    from pipeline.signing.statements import (
        PROVENANCE_TYPE,
        SMOKE_TYPE,
        ReleaseFacts,
        provenance,
        smoke_result,
    )

    image = run.candidate()
    # The candidate's own registry: --candidate may name one other than the target's.
    keychain = run.target.keychain
    labels = read_labels(RegistryAPI(image.host, keychain.resolve(image.host)), image)
    facts = ReleaseFacts(image, run.plan.source, run.state.version, labels, run.state.facts)
    predicates = {
        PROVENANCE_TYPE: provenance(run.config, facts, os.environ),
        SMOKE_TYPE: smoke_result(run.state.facts.get("smoke"), run.config.smoke),
    }
    model_dir = run.config.path(run.config.project.model_dir)
    signed = sign_image(signer, keychain, image, predicates, model_dir)
    run.state.facts["signed"] = signed.as_dict()
    run.out.note(f"sign: {image} ({signed.signer}); attested {', '.join(signed.attestations)}")


def read_labels(api: RegistryAPI, image: ImageRef) -> dict[str, str]:
    from pipeline.oci.remote import read_image

    return dict(read_image(api, image.path, image.reference or "latest").config.labels)


def push(run: ReleaseRun) -> None:
    if not run.state.version:
        raise UserError("no version decided: run the version step first")
    from pipeline.promotion.promote import Promotion, promote, release_version

    assert run.plan.history is not None  # read by the preflight for this step
    promotion = Promotion(
        run.target, run.plan.history, release_version(run.state.version), run.candidate()
    )
    report = promote(run.config, run.out, promotion)
    run.state.tags = report.tags


def tag(run: ReleaseRun) -> None:
    from pipeline.versioning import tag_release

    if not run.state.version:
        raise UserError("no version decided: run the version step first")
    released = tag_release(run.config, run.state.version, push=run.config.version.push_tag)
    run.state.facts["git_tag"] = released.name
    run.out.note(
        f"tag: {released.name} on {released.sha[:7]}"
        + (" (pushed)" if released.pushed else " (local; version.push_tag is false)")
        + (
            f", the release commit put on top of {released.onto[:7]} (the branch moved)"
            if released.onto
            else ""
        )
    )
