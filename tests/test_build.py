"""The build step against the real engine and the stack's registry, for both backends here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import commit_all, wipe_local_images

from pipeline.build.backends import BuildRequest, CliBackend
from pipeline.build.labels import MODEL_SHA_LABEL, weights_sha256
from pipeline.cli import main
from pipeline.registries.api import RegistryAPI
from pipeline.registries.transfer import push

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "churn"
TINY_BASE = "python:3.11-slim"


def project_config(registry_path: str, builder: str) -> str:
    return (
        "project:\n  name: churn\n"
        "image:\n  network: host\n"
        f"registry:\n  url: 127.0.0.1:5000/{registry_path}\n"
        f"build:\n  builder: {builder}\n"
    )


def build(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> dict:
    code = main(["build", "--json", "-C", str(project), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def counted(report: dict) -> list[dict]:
    """Steps that make layers (FROM and metadata-only instructions cannot be cached)."""
    skipped = ("FROM", "ARG", "ENV", "LABEL", "USER", "EXPOSE", "HEALTHCHECK", "CMD", "VOLUME")
    return [s for s in report["steps"] if not s["instruction"].upper().startswith(skipped)]


def uncached(report: dict) -> list[str]:
    return [s["instruction"] for s in counted(report) if not s["cached"]]


def rebuild_on_a_fresh_runner(
    capsys: pytest.CaptureFixture[str], client, project: Path, path: str, line: str, message: str
) -> dict:
    """Append `line` to `path`, commit it, wipe every local image and cache, build again."""
    with (project / path).open("a") as handle:
        handle.write(line + "\n")
    commit_all(project, message)
    wipe_local_images(client)
    return build(capsys, project)


@pytest.fixture(scope="module", params=["buildkit", "classic"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def example_project(
    backend: str, tmp_path_factory: pytest.TempPathFactory, stack: object
) -> tuple[Path, str]:
    """The bundled example in its own git repo, pushing to a registry path of its own."""
    import git

    project = tmp_path_factory.mktemp(f"churn-{backend}") / "churn"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(project)], check=True)
    registry_path = f"test-build-{backend}-{uuid.uuid4().hex[:8]}"
    (project / "pipeline.yaml").write_text(project_config(registry_path, backend))
    git.Repo.init(project, initial_branch="main")
    commit_all(project, "initial")
    return project, registry_path


@pytest.mark.stack
class TestCachedRebuilds:
    """One story per backend, in order: cold build, code-only rebuild, app-dependency change."""

    def test_first_build_from_nothing(
        self, example_project, backend, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project, registry_path = example_project
        wipe_local_images(docker_client)
        report = build(capsys, project)

        assert report["backend"] == backend
        assert report["pushed"] is True
        sha = _head(project)
        assert report["image"] == f"127.0.0.1:5000/{registry_path}/churn:sha-{sha[:7]}"
        # The candidate tag in the registry is exactly the reported digest.
        api = RegistryAPI("127.0.0.1:5000")
        assert api.digest(f"{registry_path}/churn", f"sha-{sha[:7]}") == report["digest"]
        for stage in ("builder", "runtime-base", "runtime"):
            prefix = "" if backend == "buildkit" else "classic-"
            assert api.digest(f"{registry_path}/churn", f"buildcache-{prefix}{stage}")

        labels = docker_client.images.get(report["image_id"]).labels
        assert labels["org.opencontainers.image.revision"] == sha
        assert labels["org.opencontainers.image.title"] == "churn"
        assert labels["org.opencontainers.image.version"]
        assert labels["org.opencontainers.image.created"].endswith("Z")
        assert labels["org.opencontainers.image.base.name"] == TINY_BASE
        assert labels["org.opencontainers.image.base.digest"].startswith("sha256:")
        assert labels[MODEL_SHA_LABEL] == weights_sha256(project / "model")
        assert report["size"] > 0 and report["layers"]

    def test_code_only_rebuild_on_a_fresh_runner(
        self, example_project, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project, _ = example_project
        report = rebuild_on_a_fresh_runner(
            capsys, docker_client, project, "serve/app.py", "# a code-only change", "fix: code"
        )

        assert uncached(report) == ["COPY serve/ /app/serve/"]
        assert report["cache_hit_ratio"] > 0.8

    def test_app_dependency_keeps_base_install_cached(
        self, example_project, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project, _ = example_project
        report = rebuild_on_a_fresh_runner(
            capsys,
            docker_client,
            project,
            "requirements-app.txt",
            "python-multipart==0.0.9",
            "feat: new app dependency",
        )

        missed = uncached(report)
        assert not any("requirements-base.txt" in step for step in missed), missed
        assert any("requirements-app.txt" in step and "pip install" in step for step in missed)

    def test_cache_chain_holds_on_the_next_fresh_runner(
        self, example_project, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A fourth build: the cache written by builds that were themselves cached still works."""
        project, _ = example_project
        report = rebuild_on_a_fresh_runner(
            capsys, docker_client, project, "serve/app.py", "# another change", "fix: again"
        )

        assert uncached(report) == ["COPY serve/ /app/serve/"]


def _head(project: Path) -> str:
    import git

    return git.Repo(project).head.commit.hexsha


def tiny_project(git_project: Callable[..., Path], tmp_path: Path, dockerfile: str, **kw) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(dockerfile)
    (source / "app.txt").write_text("hello\n")
    registry = kw.get("registry", f"127.0.0.1:5000/test-tiny-{uuid.uuid4().hex[:8]}")
    config = (
        f"image:\n  network: host\nregistry:\n  url: {registry}\n"
        f"build:\n  builder: {kw.get('builder', 'classic')}\n"
    )
    return git_project(source, config)


def run_failing(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> tuple[int, str]:
    code = main(["build", "-C", str(project), *extra])
    return code, capsys.readouterr().err


@pytest.mark.stack
@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_invalid_dockerfile_names_file_and_line(
    stack, git_project, tmp_path, capsys, builder: str
) -> None:
    project = tiny_project(
        git_project, tmp_path, f"FROM {TINY_BASE}\nFORM nothing\n", builder=builder
    )
    code, err = run_failing(capsys, project)
    assert code == 1
    assert "invalid Dockerfile:" in err
    assert "Dockerfile:2: unknown instruction: FORM" in err
    assert "Traceback" not in err


@pytest.mark.stack
@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_failing_run_names_the_step_and_its_output(
    stack, git_project, tmp_path, capsys, builder: str
) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nRUN echo the-model-broke && exit 3\n"
    project = tiny_project(git_project, tmp_path, dockerfile, builder=builder)
    code, err = run_failing(capsys, project)
    assert code == 1
    # The classic builder counts the label steps it appends in the total.
    assert re.search(r"step \[runtime 2/\d+\] RUN echo the-model-broke && exit 3 failed", err)
    assert "| the-model-broke" in err


@pytest.mark.stack
def test_no_engine_says_how_to_start_one(stack, git_project, tmp_path) -> None:
    project = tiny_project(git_project, tmp_path, f"FROM {TINY_BASE}\n")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "build", "-C", str(project)],
        capture_output=True,
        text=True,
        env={**_env(), "DOCKER_HOST": "unix:///tmp/no-such-engine.sock"},
        check=False,
    )
    assert result.returncode == 1
    assert "cannot reach the Docker engine at unix:///tmp/no-such-engine.sock" in result.stderr
    assert "python -m pipeline.devstack up" in result.stderr


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_missing_dockerfile(git_project, tmp_path, capsys) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "README").write_text("no Dockerfile here\n")
    project = git_project(source)
    code, err = run_failing(capsys, project)
    assert code == 1
    assert f"{project}/Dockerfile: no such Dockerfile" in err


@pytest.mark.stack
def test_unreachable_registry_warns_and_builds_cold(stack, git_project, tmp_path, capsys) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nCOPY app.txt /app.txt\n"
    project = tiny_project(git_project, tmp_path, dockerfile, registry="127.0.0.1:5999/nowhere")
    code = main(["build", "-C", str(project), "--no-push", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "warning: cannot list the tags of 127.0.0.1:5999/nowhere" in captured.err
    report = json.loads(captured.out)
    assert report["pushed"] is False and report["digest"] is None


@pytest.mark.stack
def test_over_budget_image_fails_before_push(stack, git_project, tmp_path, capsys) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nCOPY app.txt /app.txt\n"
    registry = f"127.0.0.1:5000/test-budget-{uuid.uuid4().hex[:8]}"
    project = tiny_project(git_project, tmp_path, dockerfile, registry=registry)
    code, err = run_failing(capsys, project, "--max-image-size", "10MB")
    assert code == 2
    assert "over build.max_image_size 10MB" in err
    assert RegistryAPI("127.0.0.1:5000").tags(registry.split("/", 1)[1] + "/project") == []


@pytest.mark.stack
def test_prior_release_is_the_highest_semver_tag(
    stack, docker_client, git_project, tmp_path, capsys
) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nCOPY app.txt /app.txt\n"
    registry = f"127.0.0.1:5000/test-prior-{uuid.uuid4().hex[:8]}"
    project = tiny_project(git_project, tmp_path, dockerfile, registry=registry)
    first = build(capsys, project)
    image = docker_client.images.get(first["image_id"])
    for tag in ("1.2.0", "1.10.0", "1.9.9", "2.0.0-rc.1", "not-semver"):
        image.tag(f"{registry}/project", tag)
        push(f"{registry}/project:{tag}", None)
    second = build(capsys, project)
    assert second["prior"] == f"{registry}/project:2.0.0-rc.1"
    assert second["size_change"] is not None


def test_buildx_command_line(tmp_path: Path) -> None:
    """buildx does not exist on our machines: the exact command line is what we can check."""
    backend = CliBackend("/usr/local/bin/docker", buildx=True)
    request = BuildRequest(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        target="runtime",
        tags=["reg.example/churn:sha-abc1234"],
        cache_from=["reg.example/churn:buildcache", "reg.example/churn:1.4.0"],
        build_args={"B": "2", "A": "1"},
        labels={"org.opencontainers.image.version": "1.5.0"},
        network="host",
        platform="linux/amd64",
        cache_to="type=registry,ref=reg.example/churn:buildcache,"
        "mode=max,image-manifest=true,oci-mediatypes=true",
        push=True,
    )
    assert backend.command(request, tmp_path / "iid", tmp_path / "meta.json") == [
        "/usr/local/bin/docker", "buildx", "build", "--progress", "plain",
        "-f", str(tmp_path / "Dockerfile"), "--iidfile", str(tmp_path / "iid"),
        "--target", "runtime", "-t", "reg.example/churn:sha-abc1234",
        "--metadata-file", str(tmp_path / "meta.json"),
        "--cache-from=type=registry,ref=reg.example/churn:buildcache",
        "--cache-from=type=registry,ref=reg.example/churn:1.4.0",
        "--cache-to=type=registry,ref=reg.example/churn:buildcache,"
        "mode=max,image-manifest=true,oci-mediatypes=true",
        "--push",
        "--build-arg", "A=1", "--build-arg", "B=2",
        "--label", "org.opencontainers.image.version=1.5.0",
        "--network", "host", "--platform", "linux/amd64",
        str(tmp_path),
    ]  # fmt: skip


@pytest.mark.stack
def test_buildkit_logs_in_to_a_private_registry_without_writing_the_secret(
    stack, docker_client, git_project, tmp_path, capsys, monkeypatch
) -> None:
    """Cache import from the htpasswd registry only hits when the CLI could log in."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(
        f"FROM {TINY_BASE} AS builder\nRUN echo built > /built.txt\n"
        f"FROM {TINY_BASE} AS runtime\nCOPY --from=builder /built.txt /built.txt\n"
        "COPY app.txt /app.txt\n"
    )
    (source / "app.txt").write_text("one\n")
    namespace = f"pipeline/test-login-{uuid.uuid4().hex[:8]}"
    project = git_project(
        source,
        f"image:\n  network: host\nregistry:\n  kind: dockerhub\n"
        f"  url: {stack.hub_host}/{namespace}\nbuild:\n  builder: buildkit\n",
    )
    monkeypatch.setenv("DOCKERHUB_USERNAME", stack.hub_username)
    monkeypatch.setenv("DOCKERHUB_TOKEN", stack.hub_password)
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    build(capsys, project)

    (project / "app.txt").write_text("two\n")
    commit_all(project, "fix: app only")
    for image in docker_client.images.list(name=f"{stack.hub_host}/{namespace}/project"):
        docker_client.images.remove(image.id, force=True)
    docker_client.api.prune_builds(all=True)
    code = main(["build", "--json", "-C", str(project)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert uncached(json.loads(captured.out)) == ["COPY app.txt /app.txt"], captured.err
    assert stack.hub_password not in captured.out + captured.err
    assert list(docker_config.iterdir()) == []  # no login was written anywhere
