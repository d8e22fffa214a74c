"""An image is exactly its commit: a build context that differs from HEAD is refused, or built
on purpose (`--allow-dirty`) and then labelled and tagged as dirty. Real git repositories."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from pipeline.config.schema import Config, load_config
from pipeline.core.errors import UserError
from pipeline.distribution.client import RegistryAPI
from pipeline.imagebuild.labels import oci_labels
from pipeline.project.gitinfo import GitInfo
from pipeline.project.worktree import build_source, read_build_context
from pipeline.promotion.promote import commit_candidate
from pipeline.registries import resolve_target
from pipeline.versioning.image_tags import candidate, candidate_tag
from tests.support.project import commit_all, run_pipeline

DOCKERFILE = "FROM python:3.11-slim AS runtime\nCOPY app.txt /app.txt\n"


def tiny(git_project: Callable[..., Path], tmp_path: Path, config: str = "") -> Path:
    """A one-file image's project; weights/ is gitignored, notes/ dockerignored."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(DOCKERFILE)
    (source / "app.txt").write_text("hello\n")
    (source / ".gitignore").write_text("weights/\n")
    (source / ".dockerignore").write_text(".git\nnotes/\n")
    return git_project(source, config)


def changes(project: Path) -> tuple[str, ...] | None:
    return read_build_context(load_config(project), "a test").changes


def source(config: Config) -> GitInfo:
    return build_source(config, read_build_context(config, "a test"), "a test")


def write(path: Path, text: str = "x\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_changes_are_what_the_build_sends_and_git_does_not_hold(git_project, tmp_path) -> None:
    project = tiny(git_project, tmp_path)
    assert changes(project) == ()
    write(project / "app.txt", "edited\n")  # a tracked file, edited
    write(project / "extra.py")  # untracked
    write(project / "weights" / "model.bin")  # gitignored: fetched on purpose, not an edit
    write(project / "notes" / "todo.txt")  # never sent (.dockerignore)
    write(project / ".pipeline" / "release-state.json")  # the pipeline's own, not ignored here
    assert changes(project) == ("app.txt", "extra.py")
    commit_all(project, "feat: more")
    (project / "extra.py").unlink()  # a deleted file is missing from the image
    assert changes(project) == ("extra.py",)


def test_a_dockerfile_outside_the_context_counts_and_files_outside_do_not(
    git_project, tmp_path
) -> None:
    source = tmp_path / "src"
    write(source / "docker" / "Dockerfile", DOCKERFILE)
    write(source / "app" / "app.txt")
    repo = git_project(source, name="repo")
    project = repo / "docker"  # a project in a subdirectory of its repository
    write(project / "pipeline.yaml", "project:\n  context: ../app\n")
    commit_all(repo, "config")
    write(project / "Dockerfile", DOCKERFILE + "USER 1000\n")
    write(repo / "README.md")  # outside the context
    write(repo / "app" / "new.txt")
    assert changes(project) == ("docker/Dockerfile", "app/new.txt")


def test_build_refuses_a_dirty_tree_naming_files_and_the_flag(git_project, tmp_path) -> None:
    project = tiny(git_project, tmp_path)
    sha = source(load_config(project)).short_sha
    write(project / "app.txt", "edited\n")
    for number in range(6):
        write(project / f"data{number}.csv")

    result = run_pipeline(project, "build")

    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"error: the build context differs from commit {sha} (7 file(s): app.txt, data0.csv, "
        "data1.csv, data2.csv, data3.csv and 2 more); commit or stash them"
    )
    assert "`build --allow-dirty` (build.allow_dirty)" in result.stderr


def test_a_dirty_source_is_labelled_and_tagged_dirty(git_project, tmp_path) -> None:
    project = tiny(git_project, tmp_path, "registry:\n  url: 127.0.0.1:5000/team\n")
    clean = source(load_config(project))
    assert not clean.dirty and candidate_tag(clean) == f"sha-{clean.short_sha}"
    write(project / "app.txt", "edited\n")
    config = load_config(project)
    dirty = source(config)
    assert dirty.dirty and candidate_tag(dirty) == f"sha-{clean.short_sha}-dirty"
    labels = oci_labels(
        title="t",
        version="1",
        git=dirty,
        base_image=None,
        base_digest=None,
        model_sha=None,
        extra={},
    )
    assert labels["org.opencontainers.image.revision"] == f"{clean.sha}-dirty"
    # `smoke` without --image tests what `build --allow-dirty` made, never the clean image.
    target = resolve_target(config)
    dirty_image = f"127.0.0.1:5000/team/{project.name}:sha-{clean.short_sha}-dirty"
    assert str(candidate(target.repository, dirty)) == dirty_image
    # `push` releases commits: it refuses that image, and promotes no other one in its place.
    with pytest.raises(UserError, match=f"its candidate {dirty_image} is not a commit's image"):
        commit_candidate(config, target)


@pytest.mark.stack
def test_allow_dirty_pushes_only_the_dirty_tag(stack, git_project, tmp_path) -> None:
    namespace = f"test-dirty-{uuid.uuid4().hex[:8]}"
    config = f"image:\n  network: host\nregistry:\n  url: 127.0.0.1:5000/{namespace}\n"
    project = tiny(git_project, tmp_path, config)
    sha = source(load_config(project)).sha
    write(project / "app.txt", "edited, not committed\n")

    result = run_pipeline(project, "build", "--allow-dirty", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["image"] == f"127.0.0.1:5000/{namespace}/project:sha-{sha[:7]}-dirty"
    path = f"{namespace}/project"
    assert f"sha-{sha[:7]}" not in RegistryAPI("127.0.0.1:5000").tags(path)
    manifest = RegistryAPI("127.0.0.1:5000").manifest(path, report["digest"])
    assert manifest is not None
    blob = f"http://127.0.0.1:5000/v2/{path}/blobs/{manifest['config']['digest']}"
    labels = requests.get(blob, timeout=30).json()["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == f"{sha}-dirty"
