"""The release's step functions. Each reads and extends `run.state`; raising stops the release."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pipeline.config.schema import Config
from pipeline.console.output import Output
from pipeline.core.errors import CheckFailed, UserError
from pipeline.project.gitinfo import GitInfo
from pipeline.release.state import ReleaseState

# Skipped when the version step decides there is nothing to release.
RELEASING_STEPS = ("push", "tag")


@dataclass
class ReleaseRun:
    config: Config
    out: Output
    state: ReleaseState
    git: GitInfo

    def candidate(self) -> str:
        if not self.state.candidate:
            raise UserError(
                "no candidate image: run the build step first, or name the image built by an "
                "earlier job with --candidate REPOSITORY@sha256:..."
            )
        return self.state.candidate


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
    from pipeline.distribution.reference import ImageRef
    from pipeline.imagebuild.run import run_build
    from pipeline.versioning import decide_version

    # Decided read-only here so the image's version label names the version being released.
    planned = decide_version(run.config).version
    # A release is of a commit: build.allow_dirty is for builds by hand, never for a release.
    config = dataclasses.replace(
        run.config, build=dataclasses.replace(run.config.build, allow_dirty=False)
    )
    report = run_build(config, run.out, push_images=True, version=str(planned) if planned else None)
    run.state.candidate = str(ImageRef.parse(report.image).with_digest(report.digest or ""))
    run.state.facts.update(
        build_backend=report.backend,
        build_seconds=report.seconds,
        cache_hit_ratio=report.cache_hit_ratio,
        image_size=report.size,
    )


def smoke(run: ReleaseRun) -> None:
    if not run.config.smoke.enabled:
        run.out.note("smoke: off (smoke.enabled is false)")
        return
    from pipeline.smoke.run import run_smoke

    report = run_smoke(run.config, run.out, run.candidate())
    run.state.facts.update(
        latency_ms=report.latency_ms, gpu=report.gpu, smoke_seconds=report.seconds
    )


def version(run: ReleaseRun) -> None:
    from pipeline.versioning import decide_version, write_version

    decision = decide_version(run.config)
    if decision.version is None:
        run.state.no_release_reason = decision.reason
        run.out.note(f"version: no release ({decision.reason})")
        return
    write_version(run.config, decision.version)
    run.state.version = str(decision.version)
    run.state.tags = decision.tags
    run.out.note(f"version: {decision.version} ({decision.reason})")


def push(run: ReleaseRun) -> None:
    if not run.state.version:
        raise UserError("no version decided: run the version step first")
    from pipeline.promotion.promote import promote

    report = promote(run.config, run.out, run.state.version, run.candidate())
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
    )


def describe_plan(run: ReleaseRun, todo: list[str]) -> dict[str, object]:
    """What a release would do, from reading alone: nothing is built, pushed or written."""
    from pipeline.registries import resolve_target
    from pipeline.versioning import decide_version
    from pipeline.versioning.image_tags import candidate_tag

    target = resolve_target(run.config)
    decision = decide_version(run.config)
    return {
        "steps": todo,
        "registry": run.config.registry.kind,
        "repository": str(target.repository),
        "candidate": run.state.candidate or target.ref(candidate_tag(run.git)),
        "version": str(decision.version) if decision.version else None,
        "reason": decision.reason,
        "tags": decision.tags,
    }
