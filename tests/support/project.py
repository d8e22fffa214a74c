"""Driving the pipeline and git as a user does: the helpers many test files share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Pipeline Tests",
    "GIT_AUTHOR_EMAIL": "tests@pipeline.invalid",
    "GIT_COMMITTER_NAME": "Pipeline Tests",
    "GIT_COMMITTER_EMAIL": "tests@pipeline.invalid",
}


def run_pipeline(
    project: Path, *argv: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline -C PROJECT ARGV` as a user runs it, without our shell's PIPELINE_*
    variables but the local stack's registry (plus `env`)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PIPELINE_") or k == "PIPELINE_LOCAL_REGISTRY"
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


def churn_repository(
    where: Path, namespace: str, build_yaml: str = "", files: dict[str, str] | None = None
) -> Path:
    """The churn example as a new repository (one commit) pushing to a fresh `namespace-<hex>`
    in the local registry, smoke on the host network; `build_yaml` and `files` added first."""
    import uuid

    import git

    project = where / "churn"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(project)], check=True)
    (project / "pipeline.yaml").write_text(
        "project:\n  name: churn\nimage:\n  network: host\n"
        f"registry:\n  url: 127.0.0.1:5000/{namespace}-{uuid.uuid4().hex[:8]}\n"
        f"{build_yaml}smoke:\n  network: host\n  start_period: 120\n"
    )
    for name, text in (files or {}).items():
        (project / name).write_text(text)
    git.Repo.init(project, initial_branch="main")
    commit_all(project, "initial")
    return project


def commit_all(project: Path, message: str) -> str:
    """Commit every change in `project`'s repository; returns the new commit's sha."""
    import git

    repo = git.Repo(project, search_parent_directories=True)
    repo.git.add(A=True)
    repo.git.commit(m=message, allow_empty=True)
    return repo.head.commit.hexsha


def registry_yaml(kind: str, stack: Any, name: str) -> str:
    """`image:` and `registry:` settings pushing to `name` on the stack's registry of `kind`
    (generic, dockerhub, ecr, gar), with what each kind needs."""
    registry = {
        "generic": f"  url: 127.0.0.1:5000/{name}\n",
        "dockerhub": f"  kind: dockerhub\n  url: {stack.hub_host}/{name}\n",
        "ecr": "  kind: ecr\n",
        "gar": f"  kind: gar\n  gcp_project: pipeline-tests\n  gar_repository: r{name[-8:]}\n",
    }[kind]
    image = f"  name: {name}\n" if kind == "ecr" else ""
    return f"image:\n  network: host\n{image}registry:\n{registry}"
