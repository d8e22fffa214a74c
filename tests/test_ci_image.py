"""The CI image (ci/image): released by the pipeline itself, pinned by version in the templates,
and it has what a CI job needs: the pipeline, git, git-lfs, a docker CLI with buildx, and cosign
and syft for a signed release."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "ci"))
import citools

ROOT = citools.ROOT
VERSION = (ROOT / "VERSION").read_text(encoding="utf-8").strip()


def test_the_templates_pin_the_ci_image_of_this_version() -> None:
    config = yaml.safe_load((ROOT / "ci" / "image" / "pipeline.yaml").read_text(encoding="utf-8"))
    pinned = f"{config['registry']['url']}/{config['image']['name']}:{VERSION}"
    header, _, _ = citools.gitlab_template()
    assert header["spec"]["inputs"]["job_image"]["default"] == pinned
    workflow = yaml.safe_load((ROOT / "ci" / "github" / "release.yml").read_text(encoding="utf-8"))
    assert workflow[True]["workflow_call"]["inputs"]["ci-image"]["default"] == pinned


@pytest.mark.stack
@pytest.mark.ci_runner
def test_the_ci_image_has_what_a_job_needs(stack: object) -> None:
    image = citools.ci_image()
    assert image["VERSION"] == VERSION
    probe = (
        "git --version && git lfs version && docker buildx version && cosign version"
        " && syft version && pipeline --version"
    )
    run = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", image["REF"], "sh", "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "git-lfs/" in run.stdout and "github.com/docker/buildx" in run.stdout, run.stdout
    assert "Container Signing" in run.stdout and "Application:" in run.stdout, run.stdout
    assert run.stdout.rstrip().endswith(f"pipeline {VERSION}"), run.stdout
