"""What the attestations say: SLSA v1 provenance of the release and the smoke test's result,
as predicates for cosign to wrap in an in-toto statement about the digest and sign (DSSE)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config.schema import Config, SmokeSection
from pipeline.distribution.reference import ImageRef
from pipeline.project.gitinfo import GitInfo

PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"
SBOM_TYPE = "https://cyclonedx.org/bom"
# Ours: what the smoke test checked of the digest, a predicate type of this tool's own.
SMOKE_TYPE = "https://ml-release-pipeline.io/attestations/smoke-test/v1"
BUILD_TYPE = "https://ml-release-pipeline.io/buildtypes/release/v1"
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"


@dataclass(frozen=True)
class ReleaseFacts:
    """What a release knows of its image when it signs it, handed over as values."""

    image: ImageRef  # by digest
    source: GitInfo
    version: str | None
    labels: Mapping[str, str]  # the image config's, as pushed
    facts: Mapping[str, Any] = field(default_factory=dict)  # the release state's


def ci_run(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The CI system and the URL of this run, where the variables say."""
    if environ.get("GITHUB_ACTIONS") == "true":
        server, repo, run = (environ.get(n) for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY",
                                                       "GITHUB_RUN_ID"))  # fmt: skip
        url = f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None
        attempt = environ.get("GITHUB_RUN_ATTEMPT")
        return "github-actions", f"{url}/attempts/{attempt}" if url and attempt else url
    if environ.get("GITLAB_CI") == "true":
        return "gitlab-ci", environ.get("CI_JOB_URL")
    return "local", None


def file_digest(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def requirement_files(config: Config) -> list[str]:
    """The requirement files the image is installed from, those that exist, by their path in
    the project (what the split writes, and its input)."""
    output = config.split.output_dir
    names = [config.split.requirements]
    names += [f"{output}/{name}" for name in ("requirements-base.txt", "requirements-app.txt")]
    found = {os.path.normpath(name) for name in names}
    return sorted(name for name in found if config.path(name).is_file())


def provenance(config: Config, release: ReleaseFacts, environ: Mapping[str, str]) -> dict[str, Any]:
    """A SLSA v1 provenance predicate: source, build parameters, builder, dependencies."""
    image, source, facts = release.image, release.source, release.facts
    system, run_url = ci_run(environ)
    source_uri = f"git+{source.remote_url}" if source.remote_url else "git+local"
    dependencies: list[dict[str, Any]] = [{"uri": source_uri, "digest": {"gitCommit": source.sha}}]
    base = release.labels.get(BASE_DIGEST_LABEL)
    if base:
        name = release.labels.get(BASE_NAME_LABEL, "base")
        dependencies.append({"uri": f"docker://{name}", "digest": _digest(base), "name": "base"})
    for name in requirement_files(config):
        digest = file_digest(config.path(name))
        dependencies.append({"uri": f"file:{name}", "digest": {"sha256": digest}})
    prior = facts.get("prior_image")
    if facts.get("build_path") == "patch" and prior:
        dependencies.append({"uri": f"docker://{prior}", "name": "patched from"})
    build = config.image
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "source": {"uri": source_uri, "commit": source.sha, "branch": source.branch},
                "dockerfile": config.project.dockerfile,
                "context": config.project.context,
                "target": build.target,
                "platform": build.platform,
                # By name only: a value can be a secret.
                "buildArgs": sorted(build.build_args),
                "version": release.version,
            },
            "internalParameters": {
                "image": str(image),
                "path": facts.get("build_path", "full"),
                "backend": facts.get("build_backend"),
                "ci": system,
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {
                "id": run_url or f"{system}:ml-release-pipeline",
                "version": {"ml-release-pipeline": __version__, "buildx": facts.get("builder")},
            },
            "metadata": {
                "invocationId": run_url or "",
                "finishedOn": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
    }


def _digest(text: str) -> dict[str, str]:
    algorithm, _, value = text.partition(":")
    return {algorithm: value}


def smoke_result(report: Mapping[str, Any] | None, smoke: SmokeSection) -> dict[str, Any]:
    """The smoke predicate: what was checked of the digest and what came back; with no report
    (smoke.enabled false), that it was not tested, which a verifier should see too."""
    if report is None:
        return {"passed": None, "skipped": "smoke.enabled is false: the image was not run"}
    tolerance = smoke.tolerance
    return {
        "image": report.get("image"),
        "passed": report.get("passed"),
        "gpu": report.get("gpu"),
        "latencyMs": report.get("latency_ms"),
        "tolerance": tolerance,
        "checks": [
            {key: check.get(key) for key in ("name", "status", "message", "details")}
            for check in report.get("checks", [])
        ],
        "seconds": report.get("seconds"),
    }
