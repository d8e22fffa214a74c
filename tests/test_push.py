"""`pipeline push` (promotion) against the real registries of the local stack.

The candidate is a tiny image built here (FROM scratch) and pushed where the build step would
have pushed it; every local tag these tests make points at it, and it is removed at the end.
The fault test runs a registry of its own, so the shared stack is never stopped.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from pipeline.cli import main
from pipeline.config.schema import Config, load_config
from pipeline.console.output import Output
from pipeline.core.errors import RegistryError
from pipeline.distribution.auth import Credentials
from pipeline.distribution.client import RegistryAPI
from pipeline.engine.transfer import push
from pipeline.promotion.promote import PushedTag, plan_push, promote
from pipeline.registries import resolve_target

HUB = "hub.pipeline.test"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GAR = "us-docker.pkg.dev"
LOCAL = "127.0.0.1:5000"


@pytest.fixture(scope="module")
def candidate_image(stack, docker_client) -> Iterator[str]:
    """A one-file image of its own (unique content, so a unique ID); its ID."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (
            ("Dockerfile", "FROM scratch\nCOPY payload.txt /payload.txt\n"),
            ("payload.txt", f"{uuid.uuid4()}\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = docker_client.images.build(fileobj=context, custom_context=True, rm=True)
    yield image.id
    # Every tag made by these tests points at this image: this removes them all, nothing else.
    docker_client.images.remove(image.id, force=True)


@pytest.fixture
def other_image(stack, docker_client) -> Iterator[str]:
    """A second image with content of its own: another build released under the same version."""
    image, _ = docker_client.images.build(
        fileobj=io.BytesIO(f"FROM scratch\nLABEL build={uuid.uuid4()}\n".encode()), rm=True
    )
    yield image.id
    docker_client.images.remove(image.id, force=True)


@pytest.fixture
def hub_credentials(stack, monkeypatch: pytest.MonkeyPatch) -> Credentials:
    password = Path(os.environ["PIPELINE_HUB_PASSWORD_FILE"]).read_text().strip()
    username = os.environ["PIPELINE_HUB_USERNAME"]
    monkeypatch.setenv("DOCKERHUB_USERNAME", username)
    monkeypatch.setenv("DOCKERHUB_TOKEN", password)
    return Credentials(username, password, HUB)


def release_project(git_project: Callable[..., Path], tmp_path: Path, registry: str) -> Path:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "VERSION").write_text("1.2.3\n")
    return git_project(source, "project:\n  name: churn\n" + registry, name=uuid.uuid4().hex[:8])


def short_sha(project: Path) -> str:
    import git

    return git.Repo(project).head.commit.hexsha[:7]


def place_candidate(
    docker_client, image_id: str, ref: str, credentials: Credentials | None = None
) -> str:
    """Push the candidate as the build step would; returns its digest."""
    repository, _, tag = ref.rpartition(":")
    docker_client.images.get(image_id).tag(repository, tag)
    return push(ref, credentials).digest


def run_push(capsys, project: Path, *args: str) -> tuple[int, dict | None, str]:
    code = main(["push", "--json", "-C", str(project), *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else None, captured.err


def assert_tags_point_at(api: RegistryAPI, path: str, tags: list[str], digest: str) -> None:
    for tag in tags:
        assert api.digest(path, tag) == digest, tag


EVERY_TAG = ["1.2.3", "sha-{sha}", "1.2", "1", "latest"]


def every_tag(sha: str) -> list[str]:
    return [tag.format(sha=sha) for tag in EVERY_TAG]


# -- Docker Hub (the TLS + htpasswd registry) ----------------------------------------------


@pytest.mark.stack
def test_hub_wrong_password_is_a_clear_401(
    hub_credentials, candidate_image, docker_client, git_project, tmp_path, capsys, monkeypatch
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    project = release_project(
        git_project, tmp_path, f"registry:\n  kind: dockerhub\n  url: {HUB}/{namespace}\n"
    )
    candidate = f"{HUB}/{namespace}/churn:sha-{short_sha(project)}"
    place_candidate(docker_client, candidate_image, candidate, hub_credentials)
    monkeypatch.setenv("DOCKERHUB_TOKEN", "not-the-password")

    code, _, err = run_push(capsys, project)

    assert code == 1
    assert err.startswith(f"error: registry {HUB}: could not read {candidate}: HTTP 401")
    assert "check the registry credentials" in err
    assert "not-the-password" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.stack
def test_hub_push_tags_and_verifies(
    hub_credentials, candidate_image, docker_client, git_project, tmp_path, capsys
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    project = release_project(
        git_project, tmp_path, f"registry:\n  kind: dockerhub\n  url: {HUB}/{namespace}\n"
    )
    sha = short_sha(project)
    digest = place_candidate(
        docker_client, candidate_image, f"{HUB}/{namespace}/churn:sha-{sha}", hub_credentials
    )

    code, report, err = run_push(capsys, project)

    assert code == 0, err
    assert report["method"] == "registry"
    assert report["digest"] == digest
    assert [t["tag"] for t in report["tags"]] == every_tag(sha)
    assert {t["digest"] for t in report["tags"]} == {digest}
    assert [t["moving"] for t in report["tags"]] == [False, False, True, True, True]
    api = RegistryAPI(HUB, hub_credentials)
    assert_tags_point_at(api, f"{namespace}/churn", every_tag(sha), digest)


# -- ECR and Artifact Registry -------------------------------------------------------------


@pytest.mark.stack
def test_ecr_push_creates_the_repository(
    stack, candidate_image, docker_client, git_project, tmp_path, capsys
) -> None:
    import boto3

    name = f"tests/push-{uuid.uuid4().hex[:8]}"
    project = release_project(
        git_project, tmp_path, f"image:\n  name: {name}\nregistry:\n  kind: ecr\n"
    )
    config = load_config(project, environ=os.environ)
    target = resolve_target(config)
    sha = short_sha(project)
    ecr = boto3.client("ecr")
    try:
        # The build step's push goes through the same target: its login creates the repository.
        digest = place_candidate(
            docker_client, candidate_image, target.ref(f"sha-{sha}"), target.credentials
        )
        assert ecr.describe_repositories(repositoryNames=[name])["repositories"]

        code, report, err = run_push(capsys, project)

        assert code == 0, err
        assert report["repository"] == f"{ECR}/{name}"
        assert [t["tag"] for t in report["tags"]] == every_tag(sha)
        # moto's ECR API stores no images: the registry under the ECR host name answers.
        assert_tags_point_at(RegistryAPI(ECR), name, every_tag(sha), digest)
    finally:
        ecr.delete_repository(repositoryName=name, force=True)


@pytest.mark.stack
def test_artifact_registry_push(
    stack, candidate_image, docker_client, git_project, tmp_path, capsys
) -> None:
    repository = f"t-{uuid.uuid4().hex[:8]}"
    project = release_project(
        git_project,
        tmp_path,
        f"registry:\n  kind: gar\n  gcp_project: pipeline-tests\n  gar_repository: {repository}\n",
    )
    sha = short_sha(project)
    path = f"pipeline-tests/{repository}/churn"
    digest = place_candidate(docker_client, candidate_image, f"{GAR}/{path}:sha-{sha}")

    code, report, err = run_push(capsys, project)

    assert code == 0, err
    assert report["registry"] == "gar"
    assert_tags_point_at(RegistryAPI(GAR), path, every_tag(sha), digest)
    endpoint = os.environ["PIPELINE_GAR_ENDPOINT"]
    created = requests.get(
        f"{endpoint}/v1/projects/pipeline-tests/locations/us/repositories/{repository}", timeout=10
    )
    assert created.json()["format"] == "DOCKER"


# -- what gets tagged, and from where ------------------------------------------------------


def local_project(git_project, tmp_path) -> tuple[Path, str]:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    project = release_project(git_project, tmp_path, f"registry:\n  url: {LOCAL}/{namespace}\n")
    return project, f"{namespace}/churn"


@pytest.mark.stack
def test_backport_leaves_latest_alone(
    stack, candidate_image, docker_client, git_project, tmp_path, capsys
) -> None:
    project, path = local_project(git_project, tmp_path)
    sha = short_sha(project)
    place_candidate(docker_client, candidate_image, f"{LOCAL}/{path}:sha-{sha}")
    assert run_push(capsys, project, "2.0.0")[0] == 0
    api = RegistryAPI(LOCAL)
    latest = api.digest(path, "latest")

    # The registry knows 2.0.0 even though git has no such tag.
    code, report, err = run_push(capsys, project, "1.4.3")

    assert code == 0, err
    assert [t["tag"] for t in report["tags"]] == ["1.4.3", f"sha-{sha}", "1.4", "1"]
    assert report["held"] == {"latest": "2.0.0 is newer"}
    assert "push: latest stays where it is (2.0.0 is newer)" in err
    assert api.digest(path, "latest") == latest


@pytest.mark.stack
def test_a_released_version_is_never_overwritten(
    stack, candidate_image, other_image, docker_client, git_project, tmp_path, capsys
) -> None:
    project, path = local_project(git_project, tmp_path)
    sha = short_sha(project)
    first = place_candidate(docker_client, candidate_image, f"{LOCAL}/{path}:sha-{sha}")
    assert run_push(capsys, project, "1.2.3")[0] == 0
    # A rebuild of the same commit (other content) asks for the same version again.
    place_candidate(docker_client, other_image, f"{LOCAL}/{path}:rebuilt")

    code, _, err = run_push(capsys, project, "1.2.3", "--image", f"{LOCAL}/{path}:rebuilt")

    assert code == 1
    assert f"{LOCAL}/{path}:1.2.3 exists already, on another image ({first})" in err
    assert "released versions are never overwritten" in err
    assert_tags_point_at(RegistryAPI(LOCAL), path, every_tag(sha), first)


@pytest.mark.stack
def test_candidate_by_digest(stack, candidate_image, docker_client, git_project, tmp_path, capsys):
    project, path = local_project(git_project, tmp_path)
    digest = place_candidate(docker_client, candidate_image, f"{LOCAL}/{path}:built-earlier")
    code, report, err = run_push(capsys, project, "--digest", digest)
    assert code == 0, err
    assert report["candidate"] == f"{LOCAL}/{path}@{digest}"
    assert report["digest"] == digest


@pytest.mark.stack
def test_missing_candidate_says_to_build_first(stack, git_project, tmp_path, capsys) -> None:
    project, path = local_project(git_project, tmp_path)
    code, _, err = run_push(capsys, project)
    assert code == 1
    assert f"candidate {LOCAL}/{path}:sha-{short_sha(project)} is not in the registry" in err
    assert "python -m pipeline build" in err


@pytest.mark.stack
def test_candidate_from_another_registry_goes_through_the_engine(
    hub_credentials, candidate_image, docker_client, git_project, tmp_path, capsys
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    project = release_project(
        git_project, tmp_path, f"registry:\n  kind: dockerhub\n  url: {HUB}/{namespace}\n"
    )
    staging = f"{LOCAL}/{namespace}/churn:candidate"
    staged = place_candidate(docker_client, candidate_image, staging)
    docker_client.images.remove(staging)  # a fresh runner: the engine pulls it by digest

    code, report, err = run_push(capsys, project, "--image", f"{LOCAL}/{namespace}/churn@{staged}")

    assert code == 0, err
    assert report["method"] == "engine"
    # The same config and layers as the staged candidate (a graph-driver engine re-encodes the
    # manifest; the containerd image store pushes it as it is).
    source = RegistryAPI(LOCAL).manifest(f"{namespace}/churn", staged)
    assert report["config_digest"] == source["config"]["digest"]
    digests = {t["digest"] for t in report["tags"]}
    assert digests == {report["digest"]}
    api = RegistryAPI(HUB, hub_credentials)
    manifest = api.manifest(f"{namespace}/churn", "latest")
    assert manifest["config"]["digest"] == source["config"]["digest"]


# -- a registry that dies in the middle of a push ------------------------------------------


class OwnRegistry:
    """`docker-registry serve` on a free loopback port, with storage that outlives restarts."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.config = root / "config.yml"
        self.log = root / "registry.log"
        storage = {"filesystem": {"rootdirectory": str(root / "data")}}
        config = {"version": "0.1", "storage": storage, "http": {"addr": self.host}}
        self.config.write_text(json.dumps(config))  # JSON is YAML
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://{self.host}/v2/", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"the registry on {self.host} did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_registry(tmp_path: Path) -> Iterator[OwnRegistry]:
    registry = OwnRegistry(tmp_path)
    registry.start()
    yield registry
    registry.stop()


def promote_into(project: Path, candidate: str | None, on_pushed=None):
    config: Config = load_config(project, environ=os.environ, overrides=[("registry.retries", "2")])
    return promote(config, Output(), plan_push(config, "1.2.3", candidate), on_pushed=on_pushed)


@pytest.mark.stack
@pytest.mark.parametrize("method", ["registry", "engine"])
def test_registry_dies_mid_push_then_a_rerun_completes(
    method: str,
    stack,
    own_registry: OwnRegistry,
    candidate_image,
    docker_client,
    git_project,
    tmp_path,
    capsys,
) -> None:
    project = release_project(git_project, tmp_path, f"registry:\n  url: {own_registry.host}\n")
    sha = short_sha(project)
    if method == "registry":
        candidate = None  # the build pushed sha-<commit> into the target repository
        place_candidate(docker_client, candidate_image, f"{own_registry.host}/churn:sha-{sha}")
    else:
        staging = f"{LOCAL}/t-{uuid.uuid4().hex[:8]}/churn"  # the candidate, elsewhere
        candidate = f"{staging}@{place_candidate(docker_client, candidate_image, f'{staging}:c')}"

    def die_after_the_fixed_tags(pushed: PushedTag) -> None:
        if pushed.tag == f"sha-{sha}":
            own_registry.stop()

    with pytest.raises(RegistryError) as failure:
        promote_into(project, candidate, die_after_the_fixed_tags)

    message = str(failure.value)
    assert "1.2" in message and own_registry.host in message
    assert "gave up after 3 tries" in message
    assert "retrying in" in capsys.readouterr().err

    own_registry.start()
    api = RegistryAPI(own_registry.host)
    assert sorted(api.tags("churn")) == sorted(["1.2.3", f"sha-{sha}"])  # no moving tag

    report = promote_into(project, candidate)

    assert report.method == method
    assert report.tags == every_tag(sha)
    assert_tags_point_at(api, "churn", every_tag(sha), report.digest)


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.stack
def test_secrets_never_reach_the_output_or_the_docker_config(
    hub_credentials, candidate_image, docker_client, git_project, tmp_path
) -> None:
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    planted_token = f"ya29.planted-{uuid.uuid4().hex}"
    wrong_password = f"wrong-{uuid.uuid4().hex}"
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    hub = release_project(
        git_project, tmp_path, f"registry:\n  kind: dockerhub\n  url: {HUB}/{namespace}\n"
    )
    staged = place_candidate(
        docker_client, candidate_image, f"{LOCAL}/{namespace}/churn:sha-{short_sha(hub)}"
    )
    gar_repository = f"t-{uuid.uuid4().hex[:8]}"
    gar = release_project(
        git_project,
        tmp_path,
        "registry:\n  kind: gar\n  gcp_project: pipeline-tests\n"
        f"  gar_repository: {gar_repository}\n",
    )
    place_candidate(
        docker_client,
        candidate_image,
        f"{GAR}/pipeline-tests/{gar_repository}/churn:sha-{short_sha(gar)}",
    )
    base = {**os.environ, "DOCKER_CONFIG": str(docker_config)}
    candidate = f"{LOCAL}/{namespace}/churn@{staged}"
    runs = [
        # The engine path (pull, tag, push with auth_config), refused and then accepted.
        (hub, {"DOCKERHUB_TOKEN": wrong_password}, ["--image", candidate], 1),
        (hub, {}, ["--image", candidate], 0),
        # A static Artifact Registry token, as CI's workload identity step exports it.
        (gar, {"PIPELINE_GAR_ACCESS_TOKEN": planted_token}, [], 0),
    ]
    secrets = [wrong_password, hub_credentials.password, planted_token]
    for project, env, args, expected in runs:
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", "push", "--json", "-v", "-C", str(project), *args],
            env={**base, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == expected, result.stderr
        for secret in secrets:
            assert secret not in result.stdout + result.stderr
    written = [p.read_text(errors="replace") for p in docker_config.rglob("*") if p.is_file()]
    assert not any(secret in text for text in written for secret in secrets)
