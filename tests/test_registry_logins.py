"""A full reference decides the registry; the user's docker logins serve every registry a run
touches, in the docker CLI's order, ahead of the configured variables and the cloud SDKs.

The stack tests build on the htpasswd hub with nothing but a docker config's login, and then
build FROM that private image into another registry with a credential helper program on PATH.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config.schema import Config, load_config
from pipeline.core.errors import ConfigError
from pipeline.distribution.auth import Credentials
from pipeline.distribution.client import RegistryAPI
from pipeline.registries import resolve_target
from pipeline.registries.cli_login import LOGINS_VARIABLE, answer, cli_environment

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def config_of(tmp_path: Path, yaml: str) -> Config:
    (tmp_path / "pipeline.yaml").write_text("project:\n  name: churn\n" + yaml)
    return load_config(tmp_path)


# -- a reference decides the registry ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "repository"),
    [
        ("ghcr.io/team/churn", "generic", "ghcr.io/team/churn"),
        ("team/churn", "dockerhub", "team/churn"),
        (f"{ECR}/churn", "ecr", f"{ECR}/churn"),
        ("europe-docker.pkg.dev/p/r/churn", "gar", "europe-docker.pkg.dev/p/r/churn"),
        ("eu.gcr.io/p/churn", "gcr", "eu.gcr.io/p/churn"),
        ("127.0.0.1:5000/team/churn", "generic", "127.0.0.1:5000/team/churn"),
    ],
)
def test_a_full_reference_decides_kind_and_registry(
    tmp_path: Path, name: str, kind: str, repository: str
) -> None:
    target = resolve_target(config_of(tmp_path, f"image:\n  name: {name}\n"), {})
    assert (target.kind, str(target.repository)) == (kind, repository)


def test_a_bare_name_without_a_registry_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"names no registry and registry.url is not set"):
        resolve_target(config_of(tmp_path, ""), {})
    bare = config_of(tmp_path, "registry:\n  url: 127.0.0.1:5000/team\n")
    assert str(resolve_target(bare, {}).repository) == "127.0.0.1:5000/team/churn"


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "image:\n  name: ghcr.io/team/churn\nregistry:\n  kind: ecr\n",
            "names a generic registry but registry.kind is 'ecr'",
        ),
        (
            "image:\n  name: ghcr.io/team/churn\nregistry:\n  url: quay.io/team\n",
            "names ghcr.io but registry.url is 'quay.io/team'",
        ),
        (
            f"image:\n  name: {ECR}/churn\nregistry:\n  aws_region: eu-west-1\n",
            "names us-east-1 but registry.aws_region is 'eu-west-1'",
        ),
    ],
)
def test_a_conflict_names_both(tmp_path: Path, yaml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_target(config_of(tmp_path, yaml), {})


# -- the docker CLI's logins ---------------------------------------------------------------


def docker_config(directory: Path, config: dict[str, object]) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(directory), "PATH": os.environ["PATH"]}


def basic(username: str, secret: str) -> str:
    return base64.b64encode(f"{username}:{secret}".encode()).decode()


def helper_program(directory: Path, name: str, logins: dict[str, tuple[str, str]]) -> str:
    """A `docker-credential-<name>` that answers `get` as real helpers do; returns its dir."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / f"docker-credential-{name}"
    cases = "\n".join(
        f'  "{server}") printf \'{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}\' '
        f'"$server" ;;'
        for server, (user, secret) in logins.items()
    )
    program.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 0\n'
        "read -r server\n"
        'case "$server" in\n'
        f"{cases}\n"
        '  *) echo "credentials not found in native keychain" >&2; exit 1 ;;\n'
        "esac\n"
    )
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return str(directory)


def test_auths_of_a_prior_docker_login_serve_the_target(tmp_path: Path) -> None:
    environ = docker_config(
        tmp_path / "docker", {"auths": {"https://ghcr.io": {"auth": basic("me", "ghp_x")}}}
    )
    environ |= {"DOCKERHUB_USERNAME": "other", "DOCKERHUB_TOKEN": "ignored"}
    target = resolve_target(config_of(tmp_path, "image:\n  name: ghcr.io/team/churn\n"), environ)
    assert target.credentials == Credentials("me", "ghp_x", registry="ghcr.io")


def test_credential_helpers_and_store_are_programs_on_path(tmp_path: Path) -> None:
    bin_dir = helper_program(
        tmp_path / "bin",
        "teststore",
        {"https://index.docker.io/v1/": ("hubuser", "hubtoken"), "quay.io": ("q", "qsecret")},
    )
    helper_program(tmp_path / "bin", "ghcr", {"ghcr.io": ("gh", "ghsecret")})
    environ = docker_config(
        tmp_path / "docker",
        {
            "credsStore": "teststore",
            "credHelpers": {"ghcr.io": "ghcr"},
            "auths": {"ghcr.io": {"auth": basic("stale", "stale")}},
        },
    )
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ['PATH']}"
    keychain = resolve_target(
        config_of(tmp_path, "image:\n  name: ghcr.io/team/churn\n"), environ
    ).keychain
    assert keychain.resolve("ghcr.io") == Credentials("gh", "ghsecret", registry="ghcr.io")
    # Base images and caches on other registries get their own login, and only theirs.
    assert keychain.resolve("docker.io") == Credentials("hubuser", "hubtoken", "docker.io")
    assert keychain.resolve("quay.io") == Credentials("q", "qsecret", registry="quay.io")
    assert keychain.resolve("registry.example.com") is None


def test_configured_variables_serve_the_target_only(tmp_path: Path) -> None:
    environ = docker_config(tmp_path / "docker", {})
    environ |= {"REG_USER": "me", "REG_TOKEN": "s3cret"}
    config = config_of(
        tmp_path,
        "image:\n  name: registry.example.com/team/churn\n"
        "registry:\n  username_env: REG_USER\n  password_env: REG_TOKEN\n",
    )
    keychain = resolve_target(config, environ).keychain
    assert keychain.resolve("registry.example.com") == Credentials(
        "me", "s3cret", registry="registry.example.com"
    )
    assert keychain.resolve("docker.io") is None


def test_the_build_s_helper_answers_each_registry_with_its_own_login() -> None:
    logins = (Credentials("a", "sa", "docker.io"), Credentials("b", "sb", "ghcr.io"))
    with cli_environment(logins) as environ:
        config = json.loads(Path(environ["DOCKER_CONFIG"], "config.json").read_text())
        saved = os.environ.get(LOGINS_VARIABLE)
        os.environ[LOGINS_VARIABLE] = environ[LOGINS_VARIABLE]
        try:
            hub = json.loads(answer("get", "https://index.docker.io/v1/\n")[1])
            ghcr = json.loads(answer("get", "ghcr.io")[1])
            assert answer("get", "quay.io")[0] == 1
        finally:
            os.environ.pop(LOGINS_VARIABLE)
            if saved is not None:
                os.environ[LOGINS_VARIABLE] = saved
    assert set(config["credHelpers"]) == {"https://index.docker.io/v1/", "ghcr.io"}
    assert "auths" not in config and "sa" not in json.dumps(config)
    assert (hub["Username"], hub["Secret"], ghcr["Secret"]) == ("a", "sa", "sb")


# -- on the stack: a docker login alone, and a FROM on a second private registry ------------


def runner_docker_config(directory: Path, config: dict[str, object]) -> Path:
    """A docker config holding only `config`'s logins, keeping the runner's buildx builders."""
    directory.mkdir(parents=True)
    original = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for entry in ("buildx", "contexts", "cli-plugins"):
        if (original / entry).exists():
            (directory / entry).symlink_to(original / entry)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def build(project: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    code = main(["build", "--json", "-C", str(project)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.stack
def test_docker_logins_alone_push_and_pull_private_bases(
    stack, git_project, tmp_path: Path, monkeypatch, capsys
) -> None:
    namespace = f"logins-{uuid.uuid4().hex[:8]}"
    hub = f"{stack.hub_host}/{namespace}/base"
    for name in ("DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN", "PIPELINE_REGISTRY_URL"):
        monkeypatch.delenv(name, raising=False)

    # 1. A prior `docker login` (an auths entry) is the only login: the hub takes the push.
    auths = {stack.hub_host: {"auth": basic(stack.hub_username, stack.hub_password)}}
    monkeypatch.setenv(
        "DOCKER_CONFIG", str(runner_docker_config(tmp_path / "d1", {"auths": auths}))
    )
    base_src = tmp_path / "src-base"
    base_src.mkdir()
    (base_src / "Dockerfile").write_text("FROM scratch\nCOPY base.txt /base.txt\n")
    (base_src / "base.txt").write_text(f"{uuid.uuid4()}\n")
    base = build(git_project(base_src, f"image:\n  name: {hub}\n", name="base"), capsys)
    assert base["image"].startswith(f"{hub}:sha-")
    hub_login = Credentials(stack.hub_username, stack.hub_password, stack.hub_host)
    tag = base["image"].rpartition(":")[2]
    assert RegistryAPI(stack.hub_host, hub_login).digest(f"{namespace}/base", tag)

    # 2. A credential helper program on PATH is the only login to the hub; the image goes to
    # another registry, built FROM the private base there.
    bin_dir = helper_program(
        tmp_path / "bin", "stackhub", {stack.hub_host: (stack.hub_username, stack.hub_password)}
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    helpers = {"credHelpers": {stack.hub_host: "stackhub"}}
    monkeypatch.setenv("DOCKER_CONFIG", str(runner_docker_config(tmp_path / "d2", helpers)))
    app_src = tmp_path / "src-app"
    app_src.mkdir()
    (app_src / "Dockerfile").write_text(f"FROM {base['image']}\nCOPY app.txt /app.txt\n")
    (app_src / "app.txt").write_text("app\n")
    app = f"127.0.0.1:5000/{namespace}/app"
    report = build(git_project(app_src, f"image:\n  name: {app}\n", name="app"), capsys)
    assert report["image"].startswith(f"{app}:sha-")
    assert RegistryAPI("127.0.0.1:5000").digest(
        f"{namespace}/app", report["image"].rpartition(":")[2]
    )


@pytest.mark.stack
def test_an_ecr_credential_helper_serves_ecr_and_the_repository_is_still_made(
    stack, tmp_path: Path
) -> None:
    """As with docker-credential-ecr-login: the helper's token is the login; the AWS SDK, which
    has credentials here, still creates the repository."""
    import boto3

    name = f"tests/helper-{uuid.uuid4().hex[:8]}"
    bin_dir = helper_program(tmp_path / "bin", "ecr-test", {ECR: ("AWS", "from-the-helper")})
    environ = docker_config(tmp_path / "docker", {"credHelpers": {ECR: "ecr-test"}})
    environ = {**os.environ, **environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    target = resolve_target(config_of(tmp_path, f"image:\n  name: {ECR}/{name}\n"), environ)
    ecr = boto3.client("ecr")
    try:
        assert target.credentials == Credentials("AWS", "from-the-helper", registry=ECR)
        assert ecr.describe_repositories(repositoryNames=[name])["repositories"]
    finally:
        ecr.delete_repository(repositoryName=name, force=True)
