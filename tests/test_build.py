"""The build step against the real engine (Docker 26, buildx, containerd image store) and the
stack's registries. Every fresh-runner case wipes all local images and build cache first."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.distribution.client import RegistryAPI
from pipeline.engine.client import DEFAULT_HOST, pulls_zstd
from pipeline.imagebuild.buildx import BuildRequest, Buildx
from pipeline.imagebuild.labels import MODEL_SHA_LABEL, weights_sha256
from pipeline.imagebuild.steps import RawJsonProgress
from pipeline.oci.remote import read_image
from tests.support.engine import wipe_local_images
from tests.support.project import commit_all, registry_yaml
from tests.support.signals import interruptible

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "churn"
TINY_BASE = "python:3.11-slim"
DATA = Path(__file__).resolve().parent / "data" / "build"


def project_config(registry_path: str) -> str:
    # The build path and its registry cache are under test: a code-only change would otherwise
    # be patched in the registry (tests/test_patch_build.py).
    return (
        "project:\n  name: churn\n"
        "image:\n  network: host\n"
        f"registry:\n  url: 127.0.0.1:5000/{registry_path}\n"
        "build:\n  patch: off\n"
    )


def build(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> dict:
    code = main(["build", "--json", "-C", str(project), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def counted(report: dict) -> list[dict]:
    """Steps that make layers (a FROM is pulled, not built)."""
    return [s for s in report["steps"] if not s["instruction"].upper().startswith("FROM")]


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


@pytest.fixture(scope="module")
def example_project(tmp_path_factory: pytest.TempPathFactory, stack: object) -> tuple[Path, str]:
    """The bundled example in its own git repo, pushing to a registry path of its own."""
    import git

    project = tmp_path_factory.mktemp("churn") / "churn"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(project)], check=True)
    registry_path = f"test-build-{uuid.uuid4().hex[:8]}"
    (project / "pipeline.yaml").write_text(project_config(registry_path))
    git.Repo.init(project, initial_branch="main")
    commit_all(project, "initial")
    return project, registry_path


@pytest.mark.stack
class TestCachedRebuilds:
    """One story, in order: cold build, the same commit again, code-only, code again. An app
    dependency is spliced, not left to BuildKit's cache: tests/test_splice_build.py."""

    def test_first_build_from_nothing(
        self, example_project, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project, registry_path = example_project
        wipe_local_images(docker_client)
        report = build(capsys, project)

        assert report["backend"] == "buildx"
        assert "buildx" in report["builder"] and "builder default (docker)" in report["builder"]
        assert report["pushed"] is True and report["attestations"] == []
        sha = _head(project)
        assert report["image"] == f"127.0.0.1:5000/{registry_path}/churn:sha-{sha[:7]}"
        # The candidate tag in the registry is exactly the reported digest, one plain manifest.
        api = RegistryAPI("127.0.0.1:5000")
        path = f"{registry_path}/churn"
        assert api.digest(path, f"sha-{sha[:7]}") == report["digest"]
        manifest = api.raw_manifest(path, report["digest"])
        assert manifest is not None and not manifest.is_index
        # No builder step runs before its context read: the cache holds the image's layers.
        assert report["cache_mode"] == "min", report["cache_mode_reason"]
        # The registry cache is one OCI image manifest ECR and GAR also accept.
        cache = api.raw_manifest(path, "buildcache")
        assert cache is not None
        assert cache.media_type == "application/vnd.oci.image.manifest.v1+json"
        # This commit's export, and `buildcache` pointing at it: every stage was built.
        commit_cache = f"127.0.0.1:5000/{path}:buildcache-sha-{sha[:7]}"
        assert report["cache_images"] == [commit_cache, f"127.0.0.1:5000/{path}:buildcache"]
        assert api.digest(path, "buildcache") == api.digest(path, f"buildcache-sha-{sha[:7]}")
        assert not any(s["cached"] for s in counted(report))

        # Pushed and not kept: the engine unpacked nothing (release keeps it for its smoke).
        assert not docker_client.images.list(name=report["image"].rsplit(":", 1)[0])
        config = read_image(api, path, report["digest"]).config
        labels = config.labels
        committed = datetime.fromtimestamp(_commit_time(project), UTC)
        assert labels["org.opencontainers.image.revision"] == sha
        assert labels["org.opencontainers.image.title"] == "churn"
        assert labels["org.opencontainers.image.version"]
        assert labels["org.opencontainers.image.created"] == committed.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert labels["org.opencontainers.image.base.name"] == TINY_BASE
        assert labels["org.opencontainers.image.base.digest"].startswith("sha256:")
        assert labels[MODEL_SHA_LABEL] == weights_sha256(project / "model")
        assert config.json["created"].startswith(committed.strftime("%Y-%m-%dT%H:%M:%S"))
        # The layers as the registry holds them: compressed, summing to the image's size.
        assert report["size"] is None and report["compressed_size"] > 0
        assert sum(layer["size"] for layer in report["layers"]) == report["compressed_size"]
        assert any("COPY" in layer["created_by"] for layer in report["layers"])

    def test_same_commit_on_a_fresh_runner_gives_the_same_digest(
        self, example_project, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A retried CI job: nothing local, everything from the registry cache, same image."""
        project, registry_path = example_project
        before = RegistryAPI("127.0.0.1:5000").digest(
            f"{registry_path}/churn", f"sha-{_head(project)[:7]}"
        )
        wipe_local_images(docker_client)
        report = build(capsys, project)

        assert uncached(report) == []
        assert report["digest"] == before

    def test_code_only_rebuild_on_a_fresh_runner(
        self, example_project, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project, _ = example_project
        report = rebuild_on_a_fresh_runner(
            capsys, docker_client, project, "serve/app.py", "# a code-only change", "fix: code"
        )

        # With `mode=min` the builder and app stages are hits matched by key, never run: the
        # image's own layers were all the cache had to hold.
        assert uncached(report) == ["COPY --link serve/ /app/serve/"]
        assert report["cache_hit_ratio"] > 0.8
        # A `min` export is complete whatever was loaded: `buildcache` follows it.
        sha = _head(project)[:7]
        assert [ref.rpartition(":")[2] for ref in report["cache_images"]] == [
            f"buildcache-sha-{sha}",
            "buildcache",
        ]

    def test_cache_chain_holds_on_the_next_fresh_runner(
        self, example_project, docker_client, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A fourth build: the cache written by builds that were themselves cached still works."""
        project, _ = example_project
        report = rebuild_on_a_fresh_runner(
            capsys, docker_client, project, "serve/app.py", "# another change", "fix: again"
        )

        assert uncached(report) == ["COPY --link serve/ /app/serve/"]


def _commit_time(project: Path) -> int:
    import git

    return git.Repo(project).head.commit.committed_date


def _head(project: Path) -> str:
    import git

    return git.Repo(project).head.commit.hexsha


def tiny_project(git_project: Callable[..., Path], tmp_path: Path, dockerfile: str, **kw) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(dockerfile)
    (source / "app.txt").write_text("hello\n")
    registry = kw.get("registry", f"127.0.0.1:5000/test-tiny-{uuid.uuid4().hex[:8]}")
    config = f"image:\n  network: host\nregistry:\n  url: {registry}\n" + kw.get("extra", "")
    return git_project(source, config)


def run_failing(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> tuple[int, str]:
    code = main(["build", "-C", str(project), *extra])
    return code, capsys.readouterr().err


@pytest.mark.stack
def test_invalid_dockerfile_names_file_and_line(stack, git_project, tmp_path, capsys) -> None:
    project = tiny_project(git_project, tmp_path, f"FROM {TINY_BASE}\nFORM nothing\n")
    code, err = run_failing(capsys, project)
    assert code == 1
    assert "invalid Dockerfile:" in err
    assert "Dockerfile:2: unknown instruction: FORM" in err
    assert "Traceback" not in err


@pytest.mark.stack
def test_failing_run_names_the_step_and_its_output(stack, git_project, tmp_path, capsys) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nRUN echo the-model-broke && exit 3\n"
    project = tiny_project(git_project, tmp_path, dockerfile)
    code, err = run_failing(capsys, project)
    assert code == 1
    assert re.search(r"step \[runtime 2/2\] RUN echo the-model-broke && exit 3 failed", err)
    assert "exit code: 3" in err
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


@pytest.mark.stack
def test_no_buildx_says_what_to_install(stack, git_project, tmp_path) -> None:
    """A docker CLI without the plugin (an old client, a bare install): one line, exit 1."""
    bare = tmp_path / "bare-docker-config"
    (bare / "cli-plugins").mkdir(parents=True)
    project = tiny_project(git_project, tmp_path, f"FROM {TINY_BASE}\n")
    fake_cli = tmp_path / "docker"
    fake_cli.write_text('#!/bin/sh\n[ "$1" = buildx ] && exit 1\nexit 0\n')
    fake_cli.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "build", "-C", str(project)],
        capture_output=True,
        text=True,
        env={**_env(), "PIPELINE_BUILD_DOCKER_CLI": str(fake_cli)},
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert f"no docker CLI with buildx (tried {fake_cli})" in result.stderr
    assert "docker-buildx-plugin" in result.stderr and "Traceback" not in result.stderr


class _EngineRelay:
    """A unix socket that relays to the real engine, and can be cut: to the docker CLI and
    buildx, the engine went away (as when dockerd is killed), while the shared engine itself
    only sees its client leave."""

    def __init__(self, socket_path: Path, engine: str) -> None:
        self.engine = engine.removeprefix("unix://")
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(socket_path))
        self.listener.listen()
        self.path = socket_path
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine)
            self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(2)

    def cut(self) -> None:
        self.listener.close()
        self.path.unlink()
        for connection in self.open:
            with contextlib.suppress(OSError):
                connection.shutdown(2)
                connection.close()


@pytest.mark.stack
def test_an_engine_gone_mid_build_is_said_so_not_blamed_on_a_step(
    stack, git_project, tmp_path
) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nRUN echo {uuid.uuid4().hex} && sleep 120\n"
    project = tiny_project(git_project, tmp_path, dockerfile)
    relay = _EngineRelay(tmp_path / "engine.sock", os.environ.get("DOCKER_HOST") or DEFAULT_HOST)
    build = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "build", "-C", str(project)],
        stderr=subprocess.PIPE,
        text=True,
        env={**_env(), "DOCKER_HOST": f"unix://{relay.path}"},
    )
    assert build.stderr is not None
    seen = []
    for line in build.stderr:
        seen.append(line)
        if "RUN echo" in line:  # the step is running in the engine
            break
    time.sleep(2)
    relay.cut()
    err = "".join(seen) + build.stderr.read()
    code = build.wait(timeout=120)

    assert code == 1, err
    assert f"the Docker engine at unix://{relay.path} or its builder went away during the " in err
    assert "(at [runtime 2/2] RUN echo" in err and "the candidate was not pushed" in err
    assert "failed:" not in err and "Traceback" not in err


def _env() -> dict[str, str]:
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
    assert report["cache_images"] == [] and report["size"] > 0


@pytest.mark.stack
def test_over_budget_image_fails_the_step(stack, git_project, tmp_path, capsys) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nCOPY app.txt /app.txt\n"
    registry = f"127.0.0.1:5000/test-budget-{uuid.uuid4().hex[:8]}"
    project = tiny_project(git_project, tmp_path, dockerfile, registry=registry)
    code, err = run_failing(capsys, project, "--max-image-size", "10MB")
    assert code == 2
    over = "over build.max_image_size 10MB"
    assert re.search(rf"is [\d.]+ MB \(compressed, in the registry\), {over}", err)
    code, err = run_failing(capsys, project, "--max-image-size", "10MB", "--no-push")
    assert code == 2
    assert re.search(rf"is [\d.]+ MB \(in the engine\), {over}", err)


@pytest.mark.stack
def test_prior_release_is_the_highest_semver_tag(stack, git_project, tmp_path, capsys) -> None:
    dockerfile = f"FROM {TINY_BASE} AS runtime\nCOPY app.txt /app.txt\n"
    namespace = f"test-prior-{uuid.uuid4().hex[:8]}"
    project = tiny_project(
        git_project, tmp_path, dockerfile, registry=f"127.0.0.1:5000/{namespace}"
    )
    first = build(capsys, project)
    api, path = RegistryAPI("127.0.0.1:5000"), f"{namespace}/project"
    manifest = api.raw_manifest(path, first["digest"])
    assert manifest is not None
    for tag in ("1.2.0", "1.10.0", "1.9.9", "2.0.0-rc.1", "not-semver"):
        api.put_manifest(path, tag, manifest)
    second = build(capsys, project)
    assert second["prior"] == f"127.0.0.1:5000/{path}:2.0.0-rc.1"
    assert second["size_change"] == 0


def test_buildx_command_line(tmp_path: Path) -> None:
    """What every build sends: no attestations, the commit's time, cache in and out."""
    buildx = Buildx("/usr/bin/docker", "default", "docker", "found")
    request = BuildRequest(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        target="runtime",
        tag="reg.example/churn:sha-abc1234",
        cache_from=["reg.example/churn:buildcache", "reg.example/churn:1.4.0"],
        cache_to="reg.example/churn:buildcache",
        build_args={"B": "2", "A": "1"},
        labels={"org.opencontainers.image.version": "1.5.0"},
        network="host",
        platform="linux/amd64",
        push=True,
        source_date_epoch=1700000000,
    )
    assert buildx.command(request, tmp_path / "meta.json") == [
        "/usr/bin/docker", "buildx", "build", "--progress", "rawjson",
        "-f", str(tmp_path / "Dockerfile"), "--metadata-file", str(tmp_path / "meta.json"),
        "--provenance=false", "--sbom=false", "--target", "runtime",
        "-t", "reg.example/churn:sha-abc1234",
        "--output=type=image,push=,store=false,compression=gzip,compression-level=5,"
        "force-compression=true",
        "--cache-from=type=registry,ref=reg.example/churn:buildcache",
        "--cache-from=type=registry,ref=reg.example/churn:1.4.0",
        "--cache-to=type=registry,ref=reg.example/churn:buildcache,"
        "mode=max,image-manifest=true,oci-mediatypes=true,compression=gzip,compression-level=5,"
        "force-compression=true",
        "--build-arg", "A=1", "--build-arg", "B=2", "--build-arg", "SOURCE_DATE_EPOCH=1700000000",
        "--label", "org.opencontainers.image.version=1.5.0",
        "--network", "host", "--platform", "linux/amd64",
        str(tmp_path),
    ]  # fmt: skip


def test_a_zstd_build_recompresses_every_layer_under_oci_media_types(tmp_path: Path) -> None:
    """Without oci-mediatypes the manifest is Docker's, whose zstd layers no engine pulls."""
    buildx = Buildx("/usr/bin/docker", "default", "docker", "found")
    request = BuildRequest(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        target=None,
        tag="reg.example/churn:sha-abc1234",
        cache_to="reg.example/churn:buildcache",
        push=True,
        compression="zstd",
    )
    command = buildx.command(request, tmp_path / "meta.json")
    assert "--push" not in command
    assert command[command.index("-t") : command.index("-t") + 3] == [
        "-t", "reg.example/churn:sha-abc1234",
        "--output=type=image,push=,store=false,oci-mediatypes=true,compression=zstd,"
        "force-compression=true",
    ]  # fmt: skip
    assert (
        "--cache-to=type=registry,ref=reg.example/churn:buildcache,"
        "mode=max,image-manifest=true,oci-mediatypes=true,compression=zstd,force-compression=true"
    ) in command
    # Loaded into the engine, not pushed: the engine's store keeps what it keeps.
    loaded = buildx.command(replace(request, push=False, cache_to=None), tmp_path / "m.json")
    assert "--load" in loaded and not [arg for arg in loaded if "compression=" in arg]


def test_the_cache_export_takes_the_mode_decided_for_the_dockerfile(tmp_path: Path) -> None:
    buildx = Buildx("/usr/bin/docker", "default", "docker", "found")
    request = BuildRequest(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        target=None,
        tag="reg.example/churn:sha-abc1234",
        cache_to="reg.example/churn:buildcache-sha-abc1234",
        push=True,
        cache_mode="min",
    )
    assert (
        "--cache-to=type=registry,ref=reg.example/churn:buildcache-sha-abc1234,"
        "mode=min,image-manifest=true,oci-mediatypes=true,compression=gzip,compression-level=5,"
        "force-compression=true"
    ) in buildx.command(request, tmp_path / "meta.json")


def test_a_pushed_candidate_nothing_runs_here_is_not_unpacked_into_the_engine(
    tmp_path: Path,
) -> None:
    """The docker driver's BuildKit would store it, unpacking every layer: store=false, and
    `push=` so that buildx does not push the tag again from the engine, where it is not."""
    request = BuildRequest(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        target=None,
        tag="reg.example/churn:sha-abc1234",
        push=True,
        in_engine=False,
    )

    def destination(driver: str, **changes: object) -> list[str]:
        command = Buildx("/usr/bin/docker", "b", driver, "found").command(
            replace(request, **changes), tmp_path / "meta.json"
        )
        start = command.index("-t") + 2
        return command[start : start + 1]

    assert destination("docker") == [
        "--output=type=image,push=,store=false,compression=gzip,compression-level=5,"
        "force-compression=true"
    ]
    # Kept for what runs it here next (release's smoke), or not the engine's own BuildKit.
    kept = ["--output=type=registry,compression=gzip,compression-level=5,force-compression=true"]
    assert destination("docker", in_engine=True) == kept
    assert destination("docker-container") == kept
    assert destination("docker", push=False) == ["--load"]
    keeps = Buildx("/usr/bin/docker", "b", "docker", "found").keeps
    assert not keeps(request) and keeps(replace(request, in_engine=True))
    assert keeps(replace(request, push=False))
    # A docker-container builder pushes from its own store: the engine never has the image.
    assert not Buildx("/usr/bin/docker", "b", "docker-container", "found").keeps(
        replace(request, in_engine=True)
    )


def test_an_engine_older_than_docker_23_does_not_pull_zstd() -> None:
    assert not pulls_zstd({"ServerVersion": "20.10.24"})
    assert pulls_zstd({"ServerVersion": "23.0.0"}) and pulls_zstd({"ServerVersion": "26.1.5+dfsg1"})
    assert pulls_zstd({"ServerVersion": "master-dockerproject-2026-01-01"})


def test_rawjson_progress_from_a_real_build() -> None:
    """A captured `--progress rawjson` stream of a real buildx 0.13 build (tests/data/build/
    README.md says how): steps, cache hits, timings, a failing step's output and error."""
    started: list[str] = []
    progress = RawJsonProgress("stage-0", lambda step: started.append(step.label()))
    for line in (DATA / "rawjson-failing-build.log").read_text().splitlines(keepends=True):
        progress.feed_line(line)

    by_label = {step.label(): step for step in progress.steps}
    base = "FROM docker.io/library/python:3.11-slim@sha256:"
    assert sorted(label.split("@")[0] for label in by_label) == [
        "[builder 1/3] " + base.split("@")[0],
        "[builder 2/3] RUN echo cached-step > /cached.txt",
        "[builder 3/3] COPY app.txt /app.txt",
        "[runtime 2/3] COPY --from=builder /cached.txt /cached.txt",
        "[runtime 3/3] RUN echo the-model-broke && exit 3",
    ]
    cached = {label.split("@")[0] for label, step in by_label.items() if step.cached}
    assert cached == {
        "[builder 1/3] " + base.split("@")[0],
        "[builder 2/3] RUN echo cached-step > /cached.txt",
        "[builder 3/3] COPY app.txt /app.txt",
    }
    # Announced as each starts; the cached ones start too (and end at once).
    assert set(started) == set(by_label)
    failing = by_label["[runtime 3/3] RUN echo the-model-broke && exit 3"]
    assert list(failing.output) == ["the-model-broke"] and failing.seconds > 0
    assert progress.errors == [
        '[runtime 3/3] RUN echo the-model-broke && exit 3: process "/bin/sh -c echo '
        'the-model-broke && exit 3" did not complete successfully: exit code: 3'
    ]
    assert progress.tail and progress.tail[-1].startswith("ERROR:")


@pytest.mark.stack
@pytest.mark.parametrize("kind", ["dockerhub", "ecr", "gar"])
def test_buildx_logs_in_and_caches_on_each_registry_kind(
    kind: str, stack, docker_client, git_project, tmp_path, capsys, monkeypatch
) -> None:
    """Cache export and import through the TLS stand-ins: a code-only rebuild on a wiped runner
    hits the builder stage only when buildx could log in and the registry took the cache
    manifest; the secret is never written (the helper answers from the environment)."""
    import boto3

    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(
        f"FROM {TINY_BASE} AS builder\nRUN echo built > /built.txt\n"
        f"FROM {TINY_BASE} AS runtime\nCOPY --from=builder /built.txt /built.txt\n"
        "COPY app.txt /app.txt\n"
    )
    (source / "app.txt").write_text("one\n")
    name = f"pipeline/test-login-{uuid.uuid4().hex[:8]}"
    # The rebuild is to go through buildx (a code-only change would be patched otherwise).
    project = git_project(source, registry_yaml(kind, stack, name) + "build:\n  patch: off\n")
    monkeypatch.setenv("DOCKERHUB_USERNAME", stack.hub_username)
    monkeypatch.setenv("DOCKERHUB_TOKEN", stack.hub_password)
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    try:
        first = build(capsys, project)
        (project / "app.txt").write_text("two\n")
        commit_all(project, "fix: app only")
        wipe_local_images(docker_client)
        code = main(["build", "--json", "-C", str(project)])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        second = json.loads(captured.out)
        assert uncached(second) == ["COPY app.txt /app.txt"], captured.err
        host, _, rest = second["image"].partition("/")
        api = RegistryAPI(host, None)
        if kind != "dockerhub":  # the hub stand-in needs a login to read; the build had one
            path = rest.rpartition(":")[0]
            assert api.digest(path, rest.rpartition(":")[2]) == second["digest"]
            assert api.digest(path, "buildcache")
        assert first["digest"] != second["digest"]
        assert stack.hub_password not in captured.out + captured.err
        # No login was written: buildx keeps only its builder state there (`buildx/`).
        assert not (docker_config / "config.json").exists()
        written = [f for f in docker_config.rglob("*") if f.is_file()]
        assert not [f for f in written if stack.hub_password.encode() in f.read_bytes()]
    finally:
        if kind == "ecr":
            boto3.client("ecr").delete_repository(repositoryName=name, force=True)


@pytest.mark.stack
def test_a_secret_in_the_context_stops_the_build_before_anything_is_pushed(
    stack, git_project, tmp_path, capsys
) -> None:
    """The build's own gate, not lint's: what the engine would receive is scanned first."""
    source = tmp_path / "src"
    (source / "serve").mkdir(parents=True)
    (source / "Dockerfile").write_text(f"FROM {TINY_BASE} AS runtime\nCOPY serve/ /app/serve/\n")
    (source / ".dockerignore").write_text(".git\n")
    body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
    (source / "serve" / "id_ed25519").write_text(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    (source / "serve" / "app.py").write_text("print('hello')\n")
    namespace = f"test-secret-{uuid.uuid4().hex[:8]}"
    config = f"image:\n  network: host\nregistry:\n  url: 127.0.0.1:5000/{namespace}\n"
    project = git_project(source, config)

    code, err = run_failing(capsys, project)

    assert code == 2, err
    assert "serve/id_ed25519" in err and "nothing was built" in err
    assert "to .dockerignore" in err and body not in err
    assert RegistryAPI("127.0.0.1:5000").tags(f"{namespace}/project") == []


@pytest.mark.stack
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_an_interrupted_build_stops_buildx(stack, git_project, tmp_path, signal_name) -> None:
    """Ctrl-C or a cancelled CI job: buildx (its own process group) goes with us, exit 130."""
    import signal
    import time

    marker = f"interrupt-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {TINY_BASE} AS runtime\nRUN echo {marker} && sleep 120\n"
    project = tiny_project(git_project, tmp_path, dockerfile)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "build", "--no-push", "-C", str(project)],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=interruptible,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if f"RUN echo {marker}" in line:
            break
    time.sleep(2)  # the step runs: `sleep 120` inside the builder
    process.send_signal(getattr(signal, signal_name))
    assert process.wait(timeout=60) == 130
    left = subprocess.run(["pgrep", "-f", f"buildx build.*{project}"], capture_output=True)
    assert left.stdout == b"", left.stdout


@pytest.mark.stack
def test_the_docker_driver_on_a_graph_driver_store_gets_one_line(stack) -> None:
    """The real CLI and builder; only the engine's image store is given as overlay2 would be."""
    from pipeline.core.errors import UserError
    from pipeline.imagebuild.buildx import find_buildx

    with pytest.raises(UserError) as raised:
        find_buildx(None, "overlay2")
    message = str(raised.value)
    assert message.startswith("buildx builder 'default' (docker driver) cannot export a registry")
    assert '"features": {"containerd-snapshotter": true}' in message
    assert "docker buildx create --use --driver docker-container" in message
    assert "buildx 0.13" in find_buildx(None, "io.containerd.snapshotter.v1").why


# Prints {path: [pyc flags, sha256]} for every .pyc under /opt/venv.
PYC_LISTING = (
    "import hashlib, json, pathlib; print(json.dumps({str(p): [int.from_bytes(p.read_bytes()[4:8],"
    " 'little'), hashlib.sha256(p.read_bytes()).hexdigest()] for p in"
    " pathlib.Path('/opt/venv').rglob('*.pyc')}))"
)


@pytest.mark.stack
@pytest.mark.parametrize("template", ["cpu", "pytorch-pypi"])
def test_bytecode_in_a_cold_build_does_not_depend_on_the_build_time(
    stack, template: str, tmp_path: Path
) -> None:
    """Two cold builds of a template's dependency install write the same `.pyc` bytes, each a
    checked hash of its source (flags 3 in the header), not the install time. Small
    requirements stand in for the framework: what is under test is the template's install."""
    dockerfile = REPO_ROOT / "dockerfiles" / template / "Dockerfile"
    (tmp_path / "requirements-base.txt").write_text("joblib==1.6.0\n")
    (tmp_path / "requirements-app.txt").write_text("h11==0.16.0\n")
    last_step = "runtime-base" if template == "pytorch-pypi" else "builder"
    listings = []
    for run in ("first", "second"):
        tag = f"pipeline-test-bytecode:{run}-{uuid.uuid4().hex[:8]}"
        command = ["docker", "buildx", "build", "--no-cache", "--network", "host", "--load"]
        command += ["--target", last_step, "-t", tag, "-f", str(dockerfile), str(tmp_path)]
        try:
            subprocess.run(command, check=True, timeout=600)
            listed = subprocess.run(
                ["docker", "run", "--rm", "--network", "none", tag, "python", "-c", PYC_LISTING],
                capture_output=True, text=True, check=True, timeout=120,
            )  # fmt: skip
            listings.append(json.loads(listed.stdout))
        finally:
            subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
    first, second = listings
    assert len(first) > 100 and first.keys() == second.keys()
    assert {flags for flags, _ in first.values()} == {3}
    assert [name for name in first if first[name] != second[name]] == []
