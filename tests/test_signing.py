"""Signed, attested releases, checked by the real verifier: cosign (Debian's 2.x) verifies the
signature and each attestation of a released digest on every registry kind it was promoted to;
`pipeline verify` refuses another key and an altered attestation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.core.errors import UserError
from pipeline.distribution.auth import Keychain
from pipeline.distribution.client import RawManifest, RegistryAPI, sha256_digest
from pipeline.distribution.reference import ImageRef
from pipeline.project.gitinfo import GitInfo
from pipeline.registries import resolve_target
from pipeline.release.state import state_path
from pipeline.signing.keys import Signer, check_signer, signer
from pipeline.signing.layout import cosign_tag
from pipeline.signing.sbom import write_sbom
from pipeline.signing.sign import sign_image
from pipeline.signing.statements import (
    PROVENANCE_TYPE,
    SMOKE_TYPE,
    ReleaseFacts,
    ci_run,
    provenance,
)
from pipeline.signing.tools import registry_flags, run_tool, tool, tool_environment
from tests.conftest import release_config
from tests.test_push import (
    HUB,
    LOCAL,
    candidate_image,  # noqa: F401 (a fixture)
    hub_credentials,  # noqa: F401 (a fixture)
    place_candidate,
    release_project,
    run_push,
)
from tests.test_release import EXAMPLE

PASSWORD = "correct horse"  # the test key's; a real one comes from the CI's secrets


def key_pair(folder: Path) -> tuple[Path, Path]:
    """A key pair as `cosign generate-key-pair` writes it: an encrypted PEM and its public key."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COSIGN_PASSWORD": PASSWORD}
    subprocess.run([tool("cosign"), "generate-key-pair"], cwd=folder, env=env, check=True)
    return folder / "cosign.key", folder / "cosign.pub"


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    return key_pair(tmp_path / "keys")


def cosign_verifies(target_keychain, image: ImageRef, public: Path, *command: str) -> str:
    """Real cosign, offline flags: verify (or verify-attestation ...) `image`; its stdout."""
    argv = [tool("cosign"), *command, "--key", str(public), "--insecure-ignore-tlog=true"]
    with tool_environment(target_keychain, [image]) as environ:
        done = subprocess.run(
            [*argv, *registry_flags([image]), str(image)],
            env=environ,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    return done.stdout


def attested(keychain, image: ImageRef, public: Path, kind: str) -> dict:
    out = cosign_verifies(keychain, image, public, "verify-attestation", "--type", kind)
    statement = json.loads(base64.b64decode(json.loads(out.splitlines()[0])["payload"]))
    assert {"sha256": image.digest.removeprefix("sha256:")} in [
        s["digest"] for s in statement["subject"]
    ]
    return statement["predicate"]


def verify(capsys, project: Path, image: str, public: Path) -> tuple[int, str, str]:
    code = main(["verify", "-C", str(project), image, "--key", str(public)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- a release of the example, signed ------------------------------------------------------


@pytest.mark.stack
def test_a_signed_release_verifies_with_cosign(
    stack, keys, git_project: Callable[..., Path], tmp_path: Path, capsys
) -> None:
    private, public = keys
    namespace = f"test-sign-{uuid.uuid4().hex[:8]}"
    config = release_config(namespace) + f"sign:\n  key: {private}\n"
    project = git_project(EXAMPLE, config)

    code = main(["release", "-C", str(project), "--set", "version.push_tag=false"])
    err = capsys.readouterr().err
    assert code == 0, err

    state = json.loads(state_path(project).read_text())
    built = ImageRef.parse(state["candidate"])
    api = RegistryAPI(LOCAL)
    released = api.digest(f"{namespace}/churn", state["version"])
    # Signing attaches, it does not rewrite: the digest released is the digest built.
    assert released == built.digest
    image = ImageRef.parse(f"{LOCAL}/{namespace}/churn@{released}")
    keychain = resolve_target(load_config(project, environ=os.environ)).keychain
    cosign_verifies(keychain, image, public, "verify")
    provenance = attested(keychain, image, public, "slsaprovenance1")
    commit = provenance["buildDefinition"]["externalParameters"]["source"]["commit"]
    assert commit == state["commit"]
    smoke = attested(keychain, image, public, SMOKE_TYPE)
    checked = {c["name"]: c["status"] for c in smoke["checks"]}
    assert smoke["passed"] is True and checked["health"] == "passed"
    assert any(
        name.startswith("sample ") and status == "passed" for name, status in checked.items()
    )
    sbom = attested(keychain, image, public, "cyclonedx")
    versions = {c["name"]: c.get("version") for c in sbom["components"]}
    for name in ("scikit-learn", "numpy", "fastapi"):
        assert versions.get(name), f"{name} not in the SBOM"
    weights = {
        c["name"]: c["hashes"][0]["content"] for c in sbom["components"] if c["type"] == "file"
    }
    model = next((project / "model").iterdir())
    assert weights[f"model/{model.name}"] == hashlib.sha256(model.read_bytes()).hexdigest()

    code, out, err = verify(
        capsys, project, f"{LOCAL}/{namespace}/churn:{state['version']}", public
    )
    assert code == 0, err
    assert f"at {state['commit']}" in out and "smoke: passed" in out

    # Another key: refused.
    _, other = key_pair(tmp_path / "other")
    code, _, err = verify(capsys, project, str(image), other)
    assert code == 2 and "verify: signature" in err

    # An attestation altered in the registry: refused, by the real verifier too.
    tamper_attestation(api, f"{namespace}/churn", released)
    code, _, err = verify(capsys, project, str(image), public)
    assert code == 2 and "verify: attestation" in err


def tamper_attestation(api: RegistryAPI, path: str, digest: str) -> None:
    """Change what the first attestation says, keeping its signature: what an attacker with
    write access to the registry could do."""
    tag = cosign_tag(digest, "att")
    manifest = api.manifest(path, tag)
    layer = manifest["layers"][0]
    envelope = json.loads(api.get_blob(path, layer["digest"]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["tampered"] = True
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    data = json.dumps(envelope).encode()
    blob = sha256_digest(data)
    api.upload_blob(path, blob, lambda: [data])
    layer.update(digest=blob, size=len(data))
    body = json.dumps(manifest).encode()
    api.put_manifest(path, tag, RawManifest(body, manifest["mediaType"], sha256_digest(body)))


# -- promotion carries them to every registry kind ------------------------------------------

KINDS = {
    "dockerhub": lambda ns: f"registry:\n  kind: dockerhub\n  url: {HUB}/{ns}\n",
    "ecr": lambda ns: f"image:\n  name: tests/sign-{ns}\nregistry:\n  kind: ecr\n",
    "gar": lambda ns: (
        f"registry:\n  kind: gar\n  gcp_project: pipeline-tests\n  gar_repository: {ns}\n"
    ),
}


@pytest.mark.stack
@pytest.mark.parametrize("kind", list(KINDS))
def test_promotion_carries_signatures_to_every_registry_kind(
    kind,
    hub_credentials,  # noqa: F811 (the fixture imported above)
    keys,
    candidate_image,  # noqa: F811
    docker_client,
    git_project,
    tmp_path,
    capsys,
) -> None:
    private, public = keys
    namespace = f"t{uuid.uuid4().hex[:8]}"
    project = release_project(git_project, tmp_path, KINDS[kind](namespace))
    staged = place_candidate(docker_client, candidate_image, f"{LOCAL}/{namespace}/churn:c")
    candidate = ImageRef.parse(f"{LOCAL}/{namespace}/churn@{staged}")
    target = resolve_target(load_config(project, environ=os.environ))
    predicates = {
        PROVENANCE_TYPE: {"buildDefinition": {"buildType": "t", "externalParameters": {}},
                          "runDetails": {"builder": {"id": "test"}}},
        SMOKE_TYPE: {"passed": True, "checks": []},
    }  # fmt: skip
    sign_image(Signer(str(private)), target.keychain, candidate, predicates)

    code, report, err = run_push(capsys, project, "--image", str(candidate))

    assert code == 0, err
    assert report["digest"] == staged
    assert report["signatures"] == [cosign_tag(staged, "sig"), cosign_tag(staged, "att")]
    promoted = target.repository.with_digest(staged)
    cosign_verifies(target.keychain, promoted, public, "verify")
    for cosign_type in ("slsaprovenance1", "cyclonedx", SMOKE_TYPE):
        attested(target.keychain, promoted, public, cosign_type)
    # From anywhere: verify needs no project, only the logins for the image's registry.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = verify(capsys, elsewhere, f"{target.repository}:1.2.3", public)
    assert code == 0, err
    assert f"verified {promoted}: 1 signature(s)" in out


# -- no key, no release ---------------------------------------------------------------------


@pytest.mark.stack
def test_a_key_that_cannot_be_decrypted_stops_the_release_before_anything(
    stack, keys, git_project, monkeypatch, capsys
) -> None:
    private, _ = keys
    monkeypatch.setenv("COSIGN_PASSWORD", "not the password")
    namespace = f"test-sign-{uuid.uuid4().hex[:8]}"
    project = git_project(EXAMPLE, release_config(namespace) + f"sign:\n  key: {private}\n")

    code = main(["release", "-C", str(project), "--set", "version.push_tag=false"])

    assert code == 1
    err = capsys.readouterr().err
    assert (
        f"release preflight: signing: sign.key {private}: cosign failed: decrypt: encrypted: "
        "decryption failed (is it a cosign key, and COSIGN_PASSWORD its password?)"
    ) in err
    assert "not the password" not in err
    assert RegistryAPI(LOCAL).tags(f"{namespace}/churn") == []


# -- keys and statements, without the stack -------------------------------------------------


def signing_config(tmp_path: Path, sign_yaml: str):
    (tmp_path / "pipeline.yaml").write_text(sign_yaml, encoding="utf-8")
    return load_config(tmp_path, environ={})


def test_a_key_file_is_taken_relative_to_the_project(tmp_path: Path) -> None:
    config = signing_config(tmp_path, "sign:\n  key: keys/cosign.key\n")
    assert signer(config) == Signer(str((tmp_path / "keys/cosign.key").resolve()))
    assert signer(signing_config(tmp_path, "sign:\n  key: env://COSIGN_KEY\n")) == Signer(
        "env://COSIGN_KEY"
    )
    assert signer(signing_config(tmp_path, "")) is None
    with pytest.raises(UserError, match=r"and sign\.keyless both set"):
        signer(signing_config(tmp_path, "sign:\n  key: k\n  keyless: true\n"))


@pytest.mark.parametrize(
    ("found", "environ", "says"),
    [
        (Signer("/nowhere/cosign.key"), {"COSIGN_PASSWORD": "x"}, "no such file"),
        (Signer("env://COSIGN_KEY"), {"COSIGN_PASSWORD": "x"}, "the variable is unset or empty"),
        (Signer(None), {}, "no OIDC identity token here"),
    ],
)
def test_a_key_that_is_not_there_is_named(found: Signer, environ: dict, says: str) -> None:
    with pytest.raises(UserError, match=says):
        check_signer(found, environ)


def test_the_cosign_tags_name_the_digest() -> None:
    assert cosign_tag("sha256:ab12", "sig") == "sha256-ab12.sig"
    assert cosign_tag("sha256:ab12", "att") == "sha256-ab12.att"


def test_the_ci_run_is_named_where_the_variables_say() -> None:
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "org/repo",
        "GITHUB_RUN_ID": "7",
        "GITHUB_RUN_ATTEMPT": "2",
    }
    assert ci_run(github) == (
        "github-actions",
        "https://github.com/org/repo/actions/runs/7/attempts/2",
    )
    gitlab = {"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab.com/g/p/-/jobs/9"}
    assert ci_run(gitlab) == ("gitlab-ci", "https://gitlab.com/g/p/-/jobs/9")
    assert ci_run({}) == ("local", None)


def test_the_provenance_names_the_requirement_files_by_their_project_path(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    (tmp_path / "requirements-base.txt").write_text("numpy==2.0\n")
    config = signing_config(tmp_path, "image:\n  build_args: {TOKEN: s3cret}\n")
    source = GitInfo(sha="a" * 40, remote_url="https://example.com/m.git", branch="main",
                     committed_at=0)  # fmt: skip
    image = ImageRef.parse(f"{LOCAL}/m@sha256:{'b' * 64}")
    labels = {"org.opencontainers.image.base.digest": "sha256:" + "c" * 64,
              "org.opencontainers.image.base.name": "python:3.11-slim"}  # fmt: skip
    predicate = provenance(config, ReleaseFacts(image, source, "1.0.0", labels), {})
    dependencies = predicate["buildDefinition"]["resolvedDependencies"]
    assert [d["uri"] for d in dependencies] == [
        "git+https://example.com/m.git",
        "docker://python:3.11-slim",
        "file:requirements-base.txt",
        "file:requirements.txt",
    ]
    assert dependencies[2]["digest"]["sha256"] == hashlib.sha256(b"numpy==2.0\n").hexdigest()
    # Build arguments by name: a value can be a secret.
    assert predicate["buildDefinition"]["externalParameters"]["buildArgs"] == ["TOKEN"]
    assert "s3cret" not in json.dumps(predicate)


def test_a_failed_sbom_says_syfts_own_reason(tmp_path: Path) -> None:
    """The real syft: with -q it failed without a word ("syft failed: exit status 1" was all a
    full disk gave a release); its reason comes through, without colour codes or log prefix."""
    image = ImageRef.parse("127.0.0.1:9/nobody/here:1")  # port 9: nothing listens
    with pytest.raises(UserError) as failed:
        write_sbom(Keychain(lambda host: None), image, tmp_path / "sbom.json", None)
    message = str(failed.value)
    assert message.startswith(f"SBOM of {image}: syft failed: could not determine source: ")
    assert "127.0.0.1:9" in message.removeprefix(f"SBOM of {image}")
    assert "connection refused" in message
    assert "\x1b" not in message


def test_a_failed_tool_is_named_with_what_it_said_on_either_stream(tmp_path: Path) -> None:
    quiet = tmp_path / "syft"
    quiet.write_text(
        "#!/bin/sh\necho 'scanning'\necho 'could not write /tmp/x: no space left'\nexit 1\n"
    )
    quiet.chmod(0o755)
    with pytest.raises(UserError, match=r"^SBOM: syft failed: could not write /tmp/x: no space"):
        run_tool([str(quiet)], dict(os.environ), "SBOM")
    loud = tmp_path / "cosign"
    loud.write_text("#!/bin/sh\necho ok\necho 'Error: no key' >&2\nexit 2\n")
    loud.chmod(0o755)
    with pytest.raises(UserError, match=r"^sign: cosign failed: no key$"):
        run_tool([str(loud)], dict(os.environ), "sign")
