"""README, "Release your own model": the article's app as it is, through `init` and `release` to
a pushed image, configured by nothing but the image name and registry (issue 14, item 7).

Run as a user runs it, in the local stack's environment (`devstack status --env`), in a fresh
git repository with a bare `origin`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from devstack import StackInfo
from pipeline.distribution.client import RegistryAPI
from tests.support.project import commit_all, run_pipeline

ARTICLE = Path(__file__).resolve().parent / "data" / "article-app"
REGISTRY = "127.0.0.1:5000"


def pipeline(project: Path, stack: StackInfo, *argv: str) -> subprocess.CompletedProcess[str]:
    """As a user in the stack's environment runs it; a first build installs from PyPI."""
    return run_pipeline(project, *argv, env=stack.env(show_secrets=True), timeout=900)


@pytest.mark.stack
def test_the_articles_app_releases_with_init_and_release_alone(
    stack: StackInfo, tmp_path: Path
) -> None:
    import git

    project = shutil.copytree(ARTICLE, tmp_path / "sentiment")
    (project / "README.md").unlink()  # ours, about the adaptation; not the user's project
    repo = git.Repo.init(project, initial_branch="main")
    commit_all(project, "feat: sentiment API from the article")
    remote = tmp_path / "origin.git"
    git.Repo.init(remote, bare=True)
    repo.create_remote("origin", str(remote))
    repo.git.push("origin", "main")
    image = f"test-own-model-{uuid.uuid4().hex[:8]}/sentiment"

    done = pipeline(project, stack, "init", "--image", image, "--registry", REGISTRY)
    assert done.returncode == 0, done.stderr
    assert "wrote: pipeline.yaml, VERSION, .dockerignore, smoke/predict.request.json" in done.stdout
    commit_all(project, "chore: pipeline init")

    done = pipeline(project, stack, "release", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["version"] == "0.1.0"
    assert "split: not checked: Dockerfile installs neither" in done.stderr
    assert "ML013" in done.stderr  # lint said how the split files would help
    assert "port 8000 from smoke.port" in done.stderr
    digest = result["digest"]
    api = RegistryAPI(REGISTRY, None)
    for tag in ("0.1.0", "0.1", "0", "latest"):
        assert api.digest(image, tag) == digest, tag
    assert "v0.1.0" in [tag.name for tag in git.Repo(remote).tags]
