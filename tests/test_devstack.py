"""The local container stack, checked for real: engine, registries, stand-ins, CLI."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import StackInfo
from devstack.hosts import MARKER
from devstack.hosts import ensure as ensure_hosts
from devstack.hosts import remove as remove_hosts
from devstack.seed import debian_mirror

ROOT = Path(__file__).resolve().parents[1]
BASE = "python:3.11-slim"
# The containerd image store pushes OCI manifests; the seed may be either kind.
MANIFESTS = "application/vnd.oci.image.manifest.v1+json, " + (
    "application/vnd.docker.distribution.manifest.v2+json"
)
EXPECTED_COMPONENTS = {
    "engine",
    "registry-local",
    "registry-ecr",
    "registry-gar",
    "registry-hub",
    "seed",
    "hosts",
    "moto",
    "gar-api",
}


def _devstack(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _status_json() -> dict[str, Any]:
    done = _devstack("status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _push(client: Any, repository: str, tag: str, auth: dict[str, str] | None = None) -> str | None:
    """Push a tag of the base image; the engine's error message, or None on success."""
    client.images.get(BASE).tag(repository, tag)
    try:
        for event in client.images.push(
            repository, tag=tag, auth_config=auth, stream=True, decode=True
        ):
            if "error" in event:
                return str(event["error"])
        return None
    finally:
        client.images.remove(f"{repository}:{tag}", noprune=True)


def _manifest_status(stack: StackInfo, host: str, name: str, tag: str, auth: Any = None) -> int:
    response = requests.head(
        f"https://{host}/v2/{name}/manifests/{tag}",
        headers={"Accept": MANIFESTS},
        verify=str(stack.ca_bundle),
        auth=auth,
        timeout=10,
    )
    return response.status_code


def _tag() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


# -- registries ----------------------------------------------------------------------------


@pytest.mark.stack
def test_local_registry_answers_v2(stack: StackInfo) -> None:
    response = requests.get(f"http://{stack.registry}/v2/", timeout=5)
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


@pytest.mark.stack
def test_base_image_pulls_through_the_mirror(stack: StackInfo, docker_client: Any) -> None:
    seeded = requests.head(
        f"http://{stack.registry}/v2/library/python/manifests/3.11-slim",
        headers={"Accept": MANIFESTS},
        timeout=5,
    )
    assert seeded.status_code == 200, "the seeded image is missing from the local registry"
    image = docker_client.images.pull("python", tag="3.11-slim")
    # The digest the engine records for `python` is the one our registry serves.
    assert f"python@{seeded.headers['Docker-Content-Digest']}" in image.attrs["RepoDigests"]


@pytest.mark.stack
def test_ca_bundle_lets_requests_reach_every_stand_in(stack: StackInfo) -> None:
    for host in (stack.ecr_host, stack.gar_host):
        response = requests.get(f"https://{host}/v2/", verify=str(stack.ca_bundle), timeout=5)
        assert response.status_code == 200, host
    hub = f"https://{stack.hub_host}/v2/"
    assert requests.get(hub, verify=str(stack.ca_bundle), timeout=5).status_code == 401
    login = (stack.hub_username, stack.hub_password)
    assert requests.get(hub, verify=str(stack.ca_bundle), auth=login, timeout=5).status_code == 200


@pytest.mark.stack
def test_push_to_ecr_stand_in_with_a_moto_token(stack: StackInfo, docker_client: Any) -> None:
    import boto3

    ecr = boto3.client(
        "ecr",
        endpoint_url=stack.moto_endpoint,
        region_name=stack.aws_region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"devstack-test/python-{uuid.uuid4().hex[:8]}"
    uri = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    assert uri == f"{stack.ecr_host}/{name}"
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    tag = _tag()
    error = _push(docker_client, uri, tag, {"username": user, "password": password})
    assert error is None, error
    assert _manifest_status(stack, stack.ecr_host, name, tag) == 200


@pytest.mark.stack
def test_push_to_artifact_registry_stand_in(stack: StackInfo, docker_client: Any) -> None:
    name = "devstack-test/images/python"  # PROJECT/REPOSITORY/IMAGE, as on pkg.dev
    tag = _tag()
    error = _push(docker_client, f"{stack.gar_host}/{name}", tag)
    assert error is None, error
    assert _manifest_status(stack, stack.gar_host, name, tag) == 200


@pytest.mark.stack
def test_push_to_hub_stand_in_needs_the_password(stack: StackInfo, docker_client: Any) -> None:
    repository = f"{stack.hub_host}/devstack-test"
    wrong = {"username": stack.hub_username, "password": "not-the-password"}
    # A repository of its own: the engine merges concurrent pushes of one layer to one
    # repository, so another session's good push could otherwise carry this one through.
    denied = f"{stack.hub_host}/devstack-denied-{uuid.uuid4().hex[:8]}"
    error = _push(docker_client, denied, _tag(), wrong)
    assert error is not None and "unauthorized" in error.lower(), error
    tag = _tag()
    error = _push(docker_client, repository, tag, stack.hub_auth_config)
    assert error is None, error
    login = (stack.hub_username, stack.hub_password)
    assert _manifest_status(stack, stack.hub_host, "devstack-test", tag, login) == 200


@pytest.mark.stack
def test_hub_password_is_private(stack: StackInfo) -> None:
    mode = stat.S_IMODE(stack.hub_password_file.stat().st_mode)
    assert mode == 0o600
    assert stack.hub_password == stack.hub_password_file.read_text().strip()
    assert stack.hub_password not in repr(stack)


# -- control-plane stand-ins ---------------------------------------------------------------


@pytest.mark.stack
def test_moto_ecr_api_answers(stack: StackInfo) -> None:
    import boto3

    ecr = boto3.client("ecr", endpoint_url=stack.moto_endpoint, region_name=stack.aws_region)
    name = f"devstack-test/api-{uuid.uuid4().hex[:8]}"
    created = ecr.create_repository(repositoryName=name)["repository"]
    assert created["repositoryUri"] == f"{stack.ecr_host}/{name}"
    auth = ecr.get_authorization_token()["authorizationData"][0]
    assert base64.b64decode(auth["authorizationToken"]).decode().startswith("AWS:")
    assert auth["proxyEndpoint"] == f"https://{stack.ecr_host}"


@pytest.mark.stack
def test_artifact_registry_api_with_the_real_client(stack: StackInfo) -> None:
    from google.api_core import exceptions
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import artifactregistry_v1

    client = artifactregistry_v1.ArtifactRegistryClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=stack.gar_endpoint),
    )
    parent = "projects/devstack-test/locations/us"
    repo_id = f"models-{uuid.uuid4().hex[:8]}"
    name = f"{parent}/repositories/{repo_id}"
    with pytest.raises(exceptions.NotFound):
        client.get_repository(name=name)
    operation = client.create_repository(
        parent=parent,
        repository_id=repo_id,
        repository=artifactregistry_v1.Repository(
            format_=artifactregistry_v1.Repository.Format.DOCKER
        ),
    )
    created = operation.result(timeout=10)
    assert operation.done()
    assert created.name == name
    found = client.get_repository(name=name)
    assert found.format_ == artifactregistry_v1.Repository.Format.DOCKER
    assert found.registry_uri == f"{stack.gar_host}/devstack-test/{repo_id}"
    with pytest.raises(exceptions.Conflict):  # 409 ALREADY_EXISTS, as the real REST API says
        client.create_repository(parent=parent, repository_id=repo_id, repository={}).result()


@pytest.mark.stack
def test_artifact_registry_api_errors_are_google_shaped(stack: StackInfo) -> None:
    url = f"{stack.gar_endpoint}/v1/projects/p/locations/us/repositories/absent"
    response = requests.get(url, timeout=5)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND" and error["message"]


# -- command line --------------------------------------------------------------------------


@pytest.mark.stack
def test_status_json_reports_every_component_up(stack: StackInfo) -> None:
    report = _status_json()
    components = {c["name"]: c for c in report["components"]}
    assert set(components) == EXPECTED_COMPONENTS
    assert [name for name, c in components.items() if not c["up"]] == []
    assert report["up"] is True
    for name in ("registry-local", "registry-hub", "moto", "gar-api"):
        assert components[name]["pid"], f"{name} has no recorded PID"
    assert stack.hub_password not in json.dumps(report)


@pytest.mark.stack
def test_status_env_prints_exports(stack: StackInfo) -> None:
    done = _devstack("status", "--env")
    assert done.returncode == 0, done.stderr
    lines = set(done.stdout.splitlines())
    for line in (
        "export AWS_ENDPOINT_URL=http://127.0.0.1:5001",
        "export AWS_ACCESS_KEY_ID=testing",
        "export AWS_SECRET_ACCESS_KEY=testing",
        "export AWS_DEFAULT_REGION=us-east-1",
        "export PIPELINE_GAR_ENDPOINT=http://127.0.0.1:5002",
        f"export REQUESTS_CA_BUNDLE={stack.ca_bundle}",
    ):
        assert line in lines
    assert stack.hub_password not in done.stdout
    shown = _devstack("status", "--env", "--show-secrets")
    assert f"export PIPELINE_HUB_PASSWORD={stack.hub_password}" in shown.stdout.splitlines()


@pytest.mark.stack
def test_up_twice_is_idempotent(stack: StackInfo) -> None:
    before = {c["name"]: c["pid"] for c in _status_json()["components"]}
    started = time.monotonic()
    done = _devstack("up")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "started" not in done.stderr, done.stderr  # nothing was (re)started
    after = {c["name"]: c["pid"] for c in _status_json()["components"]}
    assert after == before
    assert elapsed < 20, f"a second `up` took {elapsed:.1f}s"


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    # A state dir that cannot exist: the CLI must say so in one line, exit 1.
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, "PIPELINE_STACK_DIR": str(blocker / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "up"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr


# -- pure helpers, on files of our own -----------------------------------------------------


def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    listd = tmp_path / "sources.list.d"
    listd.mkdir()
    (listd / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\n# a comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (listd / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "deb https://packages.example/apt stable main\n"
        "deb [arch=amd64] http://ftp.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://ftp.example/debian"


def test_hosts_lines_are_marked_and_idempotent(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    mapping = {"a.test": "127.0.0.9", "b.test": "127.0.0.8"}
    assert ensure_hosts(mapping, hosts) is True
    assert ensure_hosts(mapping, hosts) is False
    text = hosts.read_text()
    assert text.startswith("127.0.0.1 localhost\n")
    assert f"127.0.0.9 a.test {MARKER}" in text.splitlines()
    assert remove_hosts(hosts) is True
    assert hosts.read_text() == "127.0.0.1 localhost\n"


# -- the engine ----------------------------------------------------------------------------


@pytest.mark.stack
def test_engine_is_current_with_buildx_and_the_containerd_store(stack: StackInfo) -> None:
    components = {c["name"]: c for c in _status_json()["components"]}
    detail = components["engine"]["detail"]
    assert "containerd image store" in detail and "buildx 0." in detail, detail
    assert "(docker driver, BuildKit " in detail, detail
    server = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert int(server.split(".")[0]) >= 26, server
    # The docker CLI first on PATH drives buildx (the plugin is where every client looks).
    assert subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0


def test_engine_shortfall_names_version_store_and_fix() -> None:
    from devstack.engine import shortfall

    old = shortfall({"ServerVersion": "20.10.24+dfsg1", "Driver": "overlay2"})
    assert old == "is docker 20.10.24+dfsg1; the build needs 24 or later"
    graph = shortfall({"ServerVersion": "26.1.5", "Driver": "overlay2", "DriverStatus": []})
    assert graph is not None and graph.startswith("uses the overlay2 image store;")
    assert '"features": {"containerd-snapshotter": true}' in graph
    store = [["driver-type", "io.containerd.snapshotter.v1"]]
    assert shortfall({"ServerVersion": "26.1.5", "DriverStatus": store}) is None


def test_daemon_json_gains_the_containerd_store_and_keeps_the_rest(tmp_path: Path) -> None:
    from devstack.engine import merge_daemon_json

    path = tmp_path / "daemon.json"
    path.write_text('{"features": {"buildkit": true}, "bridge": "docker0", "debug": true}')
    assert merge_daemon_json(path) is True
    data = json.loads(path.read_text())
    assert data["features"] == {"buildkit": True, "containerd-snapshotter": True}
    assert data["bridge"] == "docker0" and data["debug"] is True
    assert data["registry-mirrors"] == ["http://127.0.0.1:5000"]
    assert merge_daemon_json(path) is False  # idempotent
