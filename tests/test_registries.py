"""Registry targets per kind, and the registry API's retries and auth, against real servers.

ECR is moto's server plus the TLS registry under the ECR host name; Artifact Registry is the
REST stand-in plus the registry under us-docker.pkg.dev (see `devstack`). The HTTP
behaviour of the registry API (5xx, 401, lost connections, bearer tokens) is checked against
small servers started here.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pipeline.cli import main
from pipeline.config.schema import Config, load_config
from pipeline.core.errors import RegistryError, UserError
from pipeline.core.retry import RetryPolicy, TransientError, retrying
from pipeline.distribution.auth import Credentials
from pipeline.distribution.client import RawManifest, RegistryAPI
from pipeline.registries import resolve_target

FAST = RetryPolicy(retries=2, first_delay=0.01, max_delay=0.02)


def project_config(tmp_path: Path, yaml: str) -> Config:
    (tmp_path / "pipeline.yaml").write_text("project:\n  name: churn\n" + yaml)
    return load_config(tmp_path)


# -- Docker Hub and generic registries -----------------------------------------------------


def test_docker_hub_namespace_and_credentials(tmp_path: Path) -> None:
    config = project_config(tmp_path, "registry:\n  kind: dockerhub\n  url: myorg\n")
    target = resolve_target(config, {"DOCKERHUB_USERNAME": "me", "DOCKERHUB_TOKEN": "s3cret"})
    assert target.repository.host == "docker.io"
    assert target.ref("1.0.0") == "myorg/churn:1.0.0"
    assert target.credentials is not None
    assert target.credentials.auth_config() == {
        "username": "me",
        "password": "s3cret",
        "serveraddress": "docker.io",
    }
    assert "s3cret" not in repr(target)


def test_docker_hub_without_credentials_names_the_variables(tmp_path: Path) -> None:
    config = project_config(tmp_path, "registry:\n  kind: dockerhub\n  url: myorg\n")
    target = resolve_target(config, {})  # reading the configuration needs no secret
    with pytest.raises(UserError, match=r"docker login.*DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"):
        _ = target.credentials


def test_generic_registry_is_anonymous_or_fully_configured(tmp_path: Path) -> None:
    config = project_config(
        tmp_path, "registry:\n  url: 127.0.0.1:5000/team\n  password_env: REG_TOKEN\n"
    )
    assert resolve_target(config, {}).credentials is None
    half = resolve_target(config, {"REG_TOKEN": "x"})
    with pytest.raises(UserError, match="DOCKERHUB_USERNAME not set"):
        _ = half.credentials


def test_credentials_are_redacted_in_plain_and_basic_form() -> None:
    credentials = Credentials("user", "pa55word")
    basic = "dXNlcjpwYTU1d29yZA=="  # base64 of user:pa55word
    assert credentials.redact(f"got pa55word and Basic {basic}") == "got *** and Basic ***"


# -- Artifact Registry and gcr.io ----------------------------------------------------------


def test_gcr_is_the_legacy_alias(tmp_path: Path) -> None:
    config = project_config(tmp_path, "registry:\n  kind: gcr\n  url: eu.gcr.io/my-proj\n")
    target = resolve_target(config, {"PIPELINE_GAR_ACCESS_TOKEN": "ya29.token"})
    assert str(target.repository) == "eu.gcr.io/my-proj/churn"
    assert target.credentials == Credentials("oauth2accesstoken", "ya29.token", "eu.gcr.io")

    bare = project_config(tmp_path, "registry:\n  kind: gcr\n  gcp_project: other\n")
    assert str(resolve_target(bare, {}).repository) == "gcr.io/other/churn"


def test_gar_needs_project_and_repository(tmp_path: Path) -> None:
    config = project_config(tmp_path, "registry:\n  kind: gar\n  gcp_project: p\n")
    with pytest.raises(UserError, match=r"registry\.gar_repository: not set"):
        resolve_target(config, {})
    config = project_config(tmp_path, "registry:\n  kind: gar\n  gar_repository: r\n")
    with pytest.raises(UserError, match=r"registry\.gcp_project: not set"):
        resolve_target(config, {})
    target = resolve_target(config, {"GOOGLE_CLOUD_PROJECT": "from-env"})
    assert str(target.repository) == "us-docker.pkg.dev/from-env/r/churn"


def test_gar_without_any_google_credentials(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    config = project_config(tmp_path, "registry:\n  kind: gcr\n  gcp_project: p\n")
    with pytest.raises(UserError, match=r"no Google credentials.*PIPELINE_GAR_ACCESS_TOKEN"):
        _ = resolve_target(config, {}).credentials


def gar_repository(name: str) -> dict[str, Any] | None:
    import os

    endpoint = os.environ["PIPELINE_GAR_ENDPOINT"]
    response = requests.get(
        f"{endpoint}/v1/projects/pipeline-tests/locations/us/repositories/{name}", timeout=10
    )
    return response.json() if response.ok else None


def gar_config(tmp_path: Path, repository: str, extra: str = "") -> Config:
    return project_config(
        tmp_path,
        "registry:\n  kind: gar\n  gcp_project: pipeline-tests\n"
        f"  gar_repository: {repository}\n{extra}",
    )


@pytest.mark.stack
def test_gar_repository_is_created_through_the_api(stack, tmp_path: Path) -> None:
    import os

    repository = f"t-{uuid.uuid4().hex[:10]}"
    target = resolve_target(gar_config(tmp_path, repository))
    assert str(target.repository) == f"us-docker.pkg.dev/pipeline-tests/{repository}/churn"
    assert gar_repository(repository) is None
    assert target.credentials is None  # the stand-in, no token and no ADC: anonymous
    assert gar_repository(repository)["format"] == "DOCKER"

    # A token (CI's workload identity) is the registry password; the repository is there now.
    environ = {**os.environ, "PIPELINE_GAR_ACCESS_TOKEN": "ya29.from-ci"}
    again = resolve_target(gar_config(tmp_path, repository), environ)
    assert again.credentials == Credentials(
        "oauth2accesstoken", "ya29.from-ci", "us-docker.pkg.dev"
    )


@pytest.mark.stack
def test_gar_missing_repository_when_creation_is_off(stack, tmp_path: Path) -> None:
    repository = f"t-{uuid.uuid4().hex[:10]}"
    config = gar_config(tmp_path, repository, "  create_repository: false\n")
    with pytest.raises(RegistryError, match=f"{repository} does not exist and registry.create"):
        _ = resolve_target(config).credentials
    assert gar_repository(repository) is None


@pytest.mark.stack
def test_gar_repository_of_another_format(stack, tmp_path: Path) -> None:
    import os

    repository = f"t-{uuid.uuid4().hex[:10]}"
    requests.post(
        f"{os.environ['PIPELINE_GAR_ENDPOINT']}/v1/projects/pipeline-tests/locations/us/"
        f"repositories?repositoryId={repository}",
        json={"format": "MAVEN"},
        timeout=10,
    ).raise_for_status()
    with pytest.raises(RegistryError, match="is a MAVEN repository, not DOCKER"):
        _ = resolve_target(gar_config(tmp_path, repository)).credentials


# -- ECR -----------------------------------------------------------------------------------


@pytest.fixture
def ecr_repository(stack) -> Iterator[str]:
    import boto3

    name = f"tests/ecr-{uuid.uuid4().hex[:10]}"
    yield name
    ecr = boto3.client("ecr")
    with contextlib.suppress(ecr.exceptions.RepositoryNotFoundException):
        ecr.delete_repository(repositoryName=name, force=True)


def describe(name: str) -> dict[str, Any]:
    import boto3

    return boto3.client("ecr").describe_repositories(repositoryNames=[name])["repositories"][0]


@pytest.mark.stack
def test_ecr_target_from_the_callers_identity(ecr_repository: str, tmp_path: Path) -> None:
    config = project_config(
        tmp_path,
        f"image:\n  name: {ecr_repository}\nregistry:\n  kind: ecr\n"
        "  ecr_scan_on_push: false\n  ecr_tag_mutability: IMMUTABLE\n",
    )
    target = resolve_target(config)
    assert str(target.repository) == (
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{ecr_repository}"
    )
    credentials = target.credentials  # the login creates the repository
    assert credentials is not None and credentials.username == "AWS" and credentials.password
    repository = describe(ecr_repository)
    assert repository["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repository["imageTagMutability"] == "IMMUTABLE"


@pytest.mark.stack
def test_ecr_missing_repository_when_creation_is_off(ecr_repository: str, tmp_path) -> None:
    config = project_config(
        tmp_path,
        f"image:\n  name: {ecr_repository}\nregistry:\n  kind: ecr\n  create_repository: false\n",
    )
    with pytest.raises(RegistryError) as failure:
        _ = resolve_target(config).credentials
    message = str(failure.value)
    assert f"ECR: repository {ecr_repository} does not exist in 123456789012.dkr.ecr" in message
    assert "registry.create_repository is false" in message


def test_ecr_account_and_region_from_the_configuration(tmp_path: Path) -> None:
    config = project_config(
        tmp_path,
        "registry:\n  kind: ecr\n  aws_account_id: '210987654321'\n  aws_region: eu-west-1\n",
    )
    target = resolve_target(config)  # nothing asked of AWS yet
    assert str(target.repository) == "210987654321.dkr.ecr.eu-west-1.amazonaws.com/churn"


def test_ecr_without_a_region(tmp_path: Path, monkeypatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    config = project_config(tmp_path, "registry:\n  kind: ecr\n")
    with pytest.raises(UserError, match=r"ECR: no AWS region; set registry\.aws_region"):
        resolve_target(config)


@pytest.mark.stack
def test_build_pushes_its_candidate_to_ecr(
    ecr_repository: str, git_project, tmp_path: Path, capsys
) -> None:
    """The build step's own code, unchanged, logs in to ECR and creates the repository."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text("FROM scratch AS runtime\nCOPY app.txt /app.txt\n")
    (source / "app.txt").write_text(f"{uuid.uuid4()}\n")
    project = git_project(
        source,
        f"image:\n  name: {ecr_repository}\nregistry:\n  kind: ecr\nbuild:\n  builder: auto\n",
    )
    code = main(["build", "--json", "-C", str(project)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    tag = report["image"].rpartition(":")[2]
    assert report["image"].startswith(f"{host}/{ecr_repository}:sha-")
    assert RegistryAPI(host).digest(ecr_repository, tag) == report["digest"]
    assert describe(ecr_repository)["imageScanningConfiguration"] == {"scanOnPush": True}
    # Pushed by BuildKit itself: nothing of it left in the engine to clean up.
    assert report["image_id"] is None


# -- the registry API against servers that misbehave on purpose -----------------------------


class Server(ThreadingHTTPServer):
    """A loopback HTTP server whose answers a test scripts with `handle(handler) -> status`."""

    daemon_threads = True

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.command, self.path, dict(self.headers)))
                handle(self)

            do_HEAD = do_PUT = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        # Polled often: shutdown() waits for the next poll, 0.5 s by default, at every teardown.
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], Server]]:
    servers: list[Server] = []

    def start(handle: Callable[[BaseHTTPRequestHandler], None]) -> Server:
        servers.append(Server(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_api_retries_5xx_then_succeeds(serve) -> None:
    statuses = iter([503, 502])

    def handle(handler: BaseHTTPRequestHandler) -> None:
        status = next(statuses, 200)
        answer(handler, status, Docker_Content_Digest="sha256:" + "a" * 64)

    server = serve(handle)
    notes: list[str] = []
    api = RegistryAPI(server.host, policy=FAST, note=notes.append)
    assert api.digest("team/churn", "1.0.0") == "sha256:" + "a" * 64
    assert len(server.seen) == 3
    assert [re.sub(r"in [\d.]+s", "in Ns", n) for n in notes] == [
        f"registry {server.host}: could not read {server.host}/team/churn:1.0.0: HTTP 503; "
        "retrying in Ns (1/2)",
        f"registry {server.host}: could not read {server.host}/team/churn:1.0.0: HTTP 502; "
        "retrying in Ns (2/2)",
    ]


def test_api_gives_up_after_its_retries(serve) -> None:
    server = serve(lambda handler: answer(handler, 500))
    with pytest.raises(RegistryError, match=r"HTTP 500 \(gave up after 3 tries\)") as failure:
        RegistryAPI(server.host, policy=FAST).tags("team/churn")
    assert not isinstance(failure.value, TransientError)  # an outer retry does not multiply it
    assert len(server.seen) == 3


def test_api_fails_at_once_on_401_and_redacts_the_secret(serve) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        # A registry that echoes what it got, secret included, in its error.
        echoed = f"bad credentials {handler.headers.get('Authorization')} (pa55word)".encode()
        answer(handler, 401, echoed, WWW_Authenticate='Basic realm="x"')

    server = serve(handle)
    api = RegistryAPI(server.host, Credentials("user", "pa55word"), policy=FAST)
    with pytest.raises(RegistryError) as failure:
        api.digest("team/churn", "sha-abc1234")
    message = str(failure.value)
    assert message.startswith(f"registry {server.host}: could not read {server.host}/team/churn")
    assert "HTTP 401" in message and "check the registry credentials" in message
    assert "pa55word" not in message and "dXNlcjpwYTU1d29yZA" not in message
    assert len(server.seen) == 1


def test_api_retries_a_registry_that_is_down() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = f"127.0.0.1:{port}"
    with pytest.raises(RegistryError) as failure:
        RegistryAPI(host, policy=FAST).digest("team/churn", "1.0.0")
    assert str(failure.value) == (
        f"registry {host}: could not read {host}/team/churn:1.0.0: connection refused; is the "
        "registry up and reachable from here? (gave up after 3 tries)"
    )


def test_api_bearer_tokens_are_per_scope(serve) -> None:
    """A pull token cannot push: a PUT fetches a token for `pull,push` of its own."""
    stored: dict[str, bytes] = {}
    body = json.dumps({"schemaVersion": 2, "mediaType": "x", "config": {}}).encode()
    manifest = RawManifest(body, "application/vnd.oci.image.manifest.v1+json", "sha256:" + "b" * 64)

    def handle(handler: BaseHTTPRequestHandler) -> None:
        host = handler.headers["Host"]
        if handler.path.startswith("/token"):
            scope = parse_qs(urlsplit(handler.path).query)["scope"][0]
            answer(handler, 200, json.dumps({"token": f"token-for-{scope}"}).encode())
            return
        need = "pull,push" if handler.command == "PUT" else "pull"
        if handler.headers.get("Authorization") != f"Bearer token-for-repository:team/churn:{need}":
            challenge = (
                f'Bearer realm="http://{host}/token",service="test",'
                f'scope="repository:team/churn:{need}"'
            )
            answer(handler, 401, WWW_Authenticate=challenge)
        elif handler.command == "PUT":
            stored[handler.path] = handler.rfile.read(int(handler.headers["Content-Length"]))
            answer(handler, 201, Docker_Content_Digest=manifest.digest)
        else:
            answer(handler, 200, Docker_Content_Digest=manifest.digest)

    server = serve(handle)
    api = RegistryAPI(server.host, Credentials("user", "secret"), policy=FAST)
    assert api.digest("team/churn", "sha-abc1234") == manifest.digest
    assert api.put_manifest("team/churn", "1.0.0", manifest) == manifest.digest
    assert stored == {"/v2/team/churn/manifests/1.0.0": body}
    put = next(headers for method, _, headers in server.seen if method == "PUT")
    assert put["Content-Type"] == manifest.media_type


def test_api_fetches_a_new_token_when_its_token_expires(serve) -> None:
    """Docker Hub's tokens last 300 s: a 401 on a token that worked means fetch a new one."""
    issued: list[str] = []
    digest = "sha256:" + "c" * 64

    def handle(handler: BaseHTTPRequestHandler) -> None:
        host = handler.headers["Host"]
        if handler.path.startswith("/token"):
            issued.append(f"token-{len(issued)}")
            answer(handler, 200, json.dumps({"token": issued[-1]}).encode())
        elif issued and handler.headers.get("Authorization") == f"Bearer {issued[-1]}":
            # Before answering: the client may ask again as soon as it has the answer.
            issued.append("expired")  # the token just used is not the newest any more
            answer(handler, 200, Docker_Content_Digest=digest)
        else:
            challenge = f'Bearer realm="http://{host}/token",service="test"'
            answer(handler, 401, WWW_Authenticate=challenge)

    api = RegistryAPI(serve(handle).host, Credentials("user", "secret"), policy=FAST)
    assert api.digest("team/churn", "1.0.0") == digest
    assert api.digest("team/churn", "1.0.1") == digest  # its token expired: a new one
    assert issued == ["token-0", "expired", "token-2", "expired"]


def test_api_reports_credentials_a_new_token_cannot_fix(serve) -> None:
    def handle(handler: BaseHTTPRequestHandler) -> None:
        host = handler.headers["Host"]
        if handler.path.startswith("/token"):
            answer(handler, 200, json.dumps({"token": "never-good"}).encode())
        else:
            answer(handler, 401, WWW_Authenticate=f'Bearer realm="http://{host}/token"')

    api = RegistryAPI(serve(handle).host, Credentials("user", "secret"), policy=FAST)
    with pytest.raises(RegistryError, match="HTTP 401"):
        api.digest("team/churn", "1.0.0")


# -- retry ---------------------------------------------------------------------------------


def test_retrying_backs_off_with_a_cap() -> None:
    slept: list[float] = []
    calls = iter(range(10))

    def flaky() -> str:
        if next(calls) < 4:
            raise TransientError("registry x: HTTP 503")
        return "done"

    policy = RetryPolicy(retries=4, first_delay=1.0, max_delay=3.0)
    assert retrying(flaky, policy, sleep=slept.append) == "done"
    ceilings = [1.0, 2.0, 3.0, 3.0]
    assert all(c / 2 <= s <= c for s, c in zip(slept, ceilings, strict=True)), slept


def test_permanent_failures_are_not_retried() -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise RegistryError("registry x: HTTP 401")

    with pytest.raises(RegistryError, match=r"HTTP 401$"):
        retrying(refused, RetryPolicy(retries=5), sleep=lambda _: None)
    assert calls == [1]
