"""The patch path of `build` against the real stack: the same commit built both ways (patched
in the registry, and in full by buildx) must look the same to a container, file by file and in
its run-time config; the smoke test runs on the patched image; every change the patch cannot
prove falls back to the full build and says why."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.console.output import Output
from pipeline.distribution.auth import Credentials
from pipeline.distribution.client import RegistryAPI
from pipeline.imagebuild.fingerprint import FINGERPRINT_LABEL
from pipeline.imagebuild.run import prepare, run_build
from pipeline.oci.image import Image
from pipeline.oci.layer import Layer
from pipeline.oci.remote import read_image, write_image
from tests.support.images import container_view, differences
from tests.support.patching import buildkit_like_image, push_as_built
from tests.support.project import churn_repository, commit_all, registry_yaml

pytestmark = pytest.mark.stack

LOCAL = "127.0.0.1:5000"
TINY_DOCKERFILE = """\
FROM python:3.11-slim
RUN useradd --uid 1234 --create-home app && mkdir -p /srv
WORKDIR /srv
COPY requirements.txt /tmp/requirements.txt
RUN cp /tmp/requirements.txt /srv/requirements.txt
COPY --chown=1234:1234 code/ /srv/code/
COPY --link --chown=1234 data/ /data/
COPY --chmod=0600 settings.cfg /etc/app.cfg
COPY run.sh .
COPY --chown=app:staff notes.txt /srv/notes.txt
USER 1234
ENV MODE=test
EXPOSE 9000
VOLUME /cache
CMD ["sh", "/srv/run.sh"]
"""


def build(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> dict:
    return build_said(capsys, project, *extra)[0]


def build_said(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> tuple[dict, str]:
    """The build's JSON report and what it said on stderr (its warnings)."""
    code = main(["build", "--json", "-C", str(project), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out), captured.err


def _repository(report: dict) -> str:
    return report["image"].rpartition(":")[0]


def assert_same_as_full_build(capsys, project: Path, patched: dict) -> dict[str, tuple]:
    """Build the same commit in full and compare both images as a container sees them;
    returns what a container of the patched image sees."""
    full = build(capsys, project, "--set", "build.patch=off")
    assert full["path"] == "full" and full["path_reason"] == "build.patch is off"
    repository = _repository(patched)
    patched_ref, full_ref = f"{repository}@{patched['digest']}", f"{repository}@{full['digest']}"
    assert patched["digest"] != full["digest"]  # file times differ; nothing a container sees
    patched_view, differing = differences(patched_ref, full_ref)
    assert not differing, differing[:10]
    return patched_view


# -- the example: code-only, weights-only, smoke --------------------------------------------


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory, stack: object) -> Path:
    return churn_repository(
        tmp_path_factory.mktemp("patch"),
        "test-patch",
        files={"serve/notes.txt": "deleted by the code-only change\n"},
    )


class TestExample:
    """One story, in order: a full build, then a code-only and a weights-only patch."""

    def test_first_build_is_full_for_want_of_a_prior(self, churn, capsys) -> None:
        report = build(capsys, churn)

        assert report["path"] == "full"
        assert report["path_reason"].startswith("no prior image in the registry")
        labels = report["labels"]
        assert json.loads(labels[FINGERPRINT_LABEL]).keys() >= {"dockerfile", "context"}

    def test_code_only_change_is_patched_and_equals_a_full_build(self, churn, capsys) -> None:
        with (churn / "serve" / "app.py").open("a") as handle:
            handle.write("# a code-only change\n")
        (churn / "serve" / "notes.txt").unlink()
        commit_all(churn, "fix: code only")

        patched = build(capsys, churn)

        assert patched["path"] == "patch", patched["path_reason"]
        assert patched["patched_layers"] == ["COPY serve/ /app/serve/ # buildkit"]
        assert patched["steps"] == [] and patched["backend"] == "registry"
        repository = _repository(patched)
        host, _, path = repository.partition("/")
        tag = patched["image"].rpartition(":")[2]
        assert RegistryAPI(host).digest(path, tag) == patched["digest"]
        view = container_view(f"{repository}@{patched['digest']}")
        assert "app/serve/notes.txt" not in view and "app/serve/app.py" in view

        code = main(["smoke", "--json", "-C", str(churn), "--image", patched["image"]])
        captured = capsys.readouterr()
        assert code == 0, captured.err

        assert_same_as_full_build(capsys, churn, patched)

    def test_weights_only_change_is_patched_and_equals_a_full_build(self, churn, capsys) -> None:
        (churn / "model" / "CARD.md").write_text("# churn model\n")
        commit_all(churn, "chore: model card")

        patched = build(capsys, churn)

        assert patched["path"] == "patch", patched["path_reason"]
        assert patched["patched_layers"] == ["COPY model/ /models/model/ # buildkit"]
        assert_same_as_full_build(capsys, churn, patched)


# -- a small project: COPY flags, and each fallback --------------------------------------------


@pytest.fixture
def tiny(git_project: Callable[..., Path], tmp_path: Path, stack: object) -> Path:
    source = tmp_path / "src"
    (source / "code" / "pkg").mkdir(parents=True)
    (source / "data").mkdir()
    (source / "Dockerfile").write_text(TINY_DOCKERFILE)
    (source / ".dockerignore").write_text("*.log\n")
    (source / "requirements.txt").write_text("requests\n")
    (source / "code" / "main.py").write_text("print('one')\n")
    (source / "code" / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (source / "code" / "tool.sh").chmod(0o755)
    (source / "code" / "pkg" / "__init__.py").write_text("")
    (source / "code" / "link.py").symlink_to("main.py")
    (source / "code" / "debug.log").write_text("left out\n")
    (source / "data" / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (source / "settings.cfg").write_text("a = 1\n")
    (source / "run.sh").write_text("python /srv/code/main.py\n")
    (source / "notes.txt").write_text("one\n")
    config = (
        f"image:\n  network: host\nregistry:\n  url: {LOCAL}/test-patch-{uuid.uuid4().hex[:8]}\n"
    )
    return git_project(source, config)


def change(project: Path, path: str, text: str, message: str = "fix: change") -> None:
    (project / path).write_text(text)
    commit_all(project, message)


def with_build_arg(project: Path) -> None:
    config = (project / "pipeline.yaml").read_text()
    change(project, "pipeline.yaml", config.replace("image:\n", "image:\n  build_args: {X: '1'}\n"))


def top_layer_file(image: Image, name: str) -> bytes | None:
    top = b"".join(image.source(image.layers[-1].digest).chunks())
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(top))) as layer:
        copied = layer.extractfile(name)
        return None if copied is None else copied.read()


def test_every_copy_flag_patched_equals_a_full_build(tiny, capsys) -> None:
    """--chown (user and group, user alone, by name), --link, --chmod, a relative destination, an
    executable bit, a symbolic link, an ignored file, an empty directory."""
    assert build(capsys, tiny)["path"] == "full"
    change(tiny, "code/main.py", "print('two')\n")
    (tiny / "code" / "empty").mkdir()
    change(tiny, "data/weights.bin", "other weights\n")
    change(tiny, "settings.cfg", "a = 2\n")
    change(tiny, "run.sh", "python /srv/code/main.py --twice\n")
    change(tiny, "notes.txt", "two\n")

    patched = build(capsys, tiny)

    assert patched["path"] == "patch", patched["path_reason"]
    assert len(patched["patched_layers"]) == 5
    seen = assert_same_as_full_build(capsys, tiny, patched)
    # (type, mode, uid, gid, link target, content): what the comparison held equal
    assert seen["srv/code"][:4] == (tarfile.DIRTYPE, 0o755, 1234, 1234)
    assert seen["srv/code/empty"][0] == tarfile.DIRTYPE
    assert seen["srv/code/tool.sh"][1:3] == (0o755, 1234)
    assert seen["srv/code/link.py"][0::4] == (tarfile.SYMTYPE, "main.py")
    assert seen["srv/code/debug.log"][0] == tarfile.REGTYPE  # "*.log" is anchored at the root
    assert seen["data/weights.bin"][2:4] == (1234, 1234)
    assert seen["etc/app.cfg"][1:3] == (0o600, 0)
    assert seen["srv/notes.txt"][2:4] == (1234, 50)  # app, and Debian's staff group
    assert (
        seen["srv/run.sh"][5] == hashlib.sha256(b"python /srv/code/main.py --twice\n").hexdigest()
    )


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda p: change(p, "Dockerfile", TINY_DOCKERFILE + "ENV MORE=1\n"), "the Dockerfile"),
        (lambda p: change(p, ".dockerignore", "*.log\n*.tmp\n"), "the .dockerignore"),
        # read by a RUN: the requirements the image installs
        (
            lambda p: change(p, "requirements.txt", "requests\nrich\n"),
            "files that instructions other than the patchable COPYs read",
        ),
        (lambda p: with_build_arg(p), "the build arguments"),
    ],
    ids=["dockerfile", "dockerignore", "requirements", "build-arg"],
)
def test_what_the_patch_cannot_prove_builds_in_full(tiny, capsys, edit, reason) -> None:
    assert build(capsys, tiny)["path"] == "full"
    edit(tiny)
    change(tiny, "code/main.py", "print('changed too')\n")

    report = build(capsys, tiny)

    assert report["path"] == "full"
    assert reason in report["path_reason"], report["path_reason"]
    assert report["path_reason"].startswith("changed since sha-")


def test_a_copy_a_run_follows_is_not_patched(git_project, tmp_path, capsys, stack) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(
        "FROM python:3.11-slim\nCOPY app.txt /app/app.txt\nRUN wc -c /app/app.txt > /size\n"
    )
    (source / "app.txt").write_text("one\n")
    config = (
        f"image:\n  network: host\nregistry:\n  url: {LOCAL}/test-patch-{uuid.uuid4().hex[:8]}\n"
    )
    project = git_project(source, config)
    assert build(capsys, project)["path"] == "full"
    change(project, "app.txt", "two\n")

    report = build(capsys, project)

    assert report["path"] == "full"
    assert "files that instructions other than the patchable COPYs read" in report["path_reason"]


def test_an_image_we_did_not_label_is_not_patched(tiny, capsys) -> None:
    first = build(capsys, tiny)
    host, _, rest = first["image"].partition("/")
    path, _, tag = rest.rpartition(":")
    api = RegistryAPI(host)
    foreign = read_image(api, path, tag).with_labels({FINGERPRINT_LABEL: None})
    write_image(api, path, foreign, tags=[tag])
    change(tiny, "code/main.py", "print('changed')\n")

    report = build(capsys, tiny)

    assert report["path"] == "full"
    assert "not built by us" in report["path_reason"]


def test_an_image_pushed_over_the_candidate_tag_is_never_patched_on(tiny, capsys) -> None:
    """A user's image derived from our candidate (its layers plus one, our labels inherited)
    pushed to the candidate's tag: the next build warns, names it and builds in full."""
    first = build(capsys, tiny)
    host, _, rest = first["image"].partition("/")
    path, _, tag = rest.rpartition(":")
    api = RegistryAPI(host)
    foreign = tarfile.TarInfo("foreign")
    foreign.size = 3
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(foreign, io.BytesIO(b"yes"))
    derived = read_image(api, path, tag).append_layer(
        Layer.from_tar(buffer.getvalue()), {"created_by": "RUN echo yes > /foreign"}
    )
    write_image(api, path, derived, tags=[tag])
    change(tiny, "code/main.py", "print('changed')\n")

    report, said = build_said(capsys, tiny)

    assert report["path"] == "full"
    named = f"prior image {host}/{path}:{tag} ({derived.digest}) carries our labels but is not"
    assert named in report["path_reason"]
    assert f"warning: {named}" in said and "building in full" in said
    built = read_image(api, path, report["image"].rpartition(":")[2])
    assert derived.layers[-1] not in built.layers
    assert len(built.layers) == len(read_image(api, path, first["digest"]).layers)


def test_a_prior_candidate_with_a_deleted_blob_falls_back_to_a_full_build(tiny, capsys) -> None:
    import requests

    first = build(capsys, tiny)
    host, _, rest = first["image"].partition("/")
    path, _, tag = rest.rpartition(":")
    layer = read_image(RegistryAPI(host), path, tag).layers[-1].digest
    deleted = requests.delete(f"http://{host}/v2/{path}/blobs/{layer}", timeout=30)
    assert deleted.status_code == 202, deleted.text
    change(tiny, "code/main.py", "print('changed')\n")

    report, said = build_said(capsys, tiny)

    assert report["path"] == "full"
    named = f"prior image {host}/{path}:{tag} lacks its layer blob {layer} in the registry"
    assert f"warning: {named}" in said and named in report["path_reason"]


def test_a_mode_change_git_cannot_see_never_repushes_the_candidate(tiny, capsys) -> None:
    """`chmod 600` on a file the image copies: git status stays clean (core.fileMode false),
    the build refuses before the engine builds anything, the tag keeps its digest."""
    subprocess.run(["git", "config", "core.fileMode", "false"], cwd=tiny, check=True)
    first = build(capsys, tiny)
    host, _, rest = first["image"].partition("/")
    path, _, tag = rest.rpartition(":")
    api = RegistryAPI(host)
    tags = api.tags(path)
    (tiny / "code" / "main.py").chmod(0o600)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tiny, capture_output=True)
    assert status.stdout == b""

    code = main(["build", "-C", str(tiny)])

    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{first['image']} ({first['digest']}) was built from this commit" in err
    assert "the sources of the COPY on Dockerfile line 6" in err
    assert api.digest(path, tag) == first["digest"] and api.tags(path) == tags


@pytest.mark.parametrize("kind", ["dockerhub", "ecr", "gar"])
def test_a_code_only_change_is_patched_on_each_registry_kind(
    kind: str, stack, git_project, tmp_path, capsys, monkeypatch
) -> None:
    """Through the TLS stand-ins, with each one's login: the patch reads the prior image and
    writes the candidate with the credentials the build uses."""
    import boto3

    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(
        'FROM python:3.11-slim\nWORKDIR /app\nCOPY app.txt .\nCMD ["cat", "/app/app.txt"]\n'
    )
    (source / "app.txt").write_text("one\n")
    name = f"pipeline/test-patch-{uuid.uuid4().hex[:8]}"
    project = git_project(source, registry_yaml(kind, stack, name))
    monkeypatch.setenv("DOCKERHUB_USERNAME", stack.hub_username)
    monkeypatch.setenv("DOCKERHUB_TOKEN", stack.hub_password)
    try:
        assert build(capsys, project)["path"] == "full"
        change(project, "app.txt", "two\n")

        patched = build(capsys, project)

        assert patched["path"] == "patch", patched["path_reason"]
        assert patched["patched_layers"] == ["COPY app.txt . # buildkit"]
        host, _, rest = patched["image"].partition("/")
        hub = Credentials(stack.hub_username, stack.hub_password) if kind == "dockerhub" else None
        written = read_image(RegistryAPI(host, hub), rest.rpartition(":")[0], patched["digest"])
        assert top_layer_file(written, "app/app.txt") == b"two\n"
    finally:
        if kind == "ecr":
            boto3.client("ecr").delete_repository(repositoryName=name, force=True)


def test_a_new_base_image_digest_builds_in_full(tiny, capsys, docker_client) -> None:
    """The same `FROM` name on another image: the proof's base digest differs."""
    host, _, rest = build(capsys, tiny)["image"].partition("/")
    base_path = rest.rpartition("/")[0] + "/base"
    api = RegistryAPI(host)
    python = read_image(api, "library/python", "3.11-slim")
    write_image(api, base_path, python, tags=["1"])
    dockerfile = TINY_DOCKERFILE.replace("python:3.11-slim", f"{host}/{base_path}:1")
    change(tiny, "Dockerfile", dockerfile)
    assert build(capsys, tiny)["path"] == "full"
    write_image(api, base_path, python.with_labels({"rebuilt": "yes"}), tags=["1"])
    # buildx resolved the FROM in the registry; an engine that kept the old one must forget it
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(f"{host}/{base_path}:1", force=True)
    change(tiny, "code/main.py", "print('on a new base')\n")

    report = build(capsys, tiny)

    assert report["path"] == "full"
    assert "a FROM image's digest" in report["path_reason"]


@pytest.mark.parametrize("kind", ["generic", "dockerhub", "ecr", "gar"])
def test_the_patch_writes_to_each_registry_kind_with_no_engine(
    kind: str, stack, tmp_path, git_project, monkeypatch
) -> None:
    """`FROM scratch` asks no engine anything: the prior image and the patch go through each
    registry's own login and upload quirks alone (DOCKER_HOST points nowhere)."""
    import boto3

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    monkeypatch.setenv("DOCKERHUB_USERNAME", stack.hub_username)
    monkeypatch.setenv("DOCKERHUB_TOKEN", stack.hub_password)
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text('FROM scratch\nCOPY app.txt /app/\nCMD ["/app/app.txt"]\n')
    (source / "app.txt").write_text("one\n")
    name = f"pipeline/test-patch-{uuid.uuid4().hex[:8]}"
    project = git_project(source, registry_yaml(kind, stack, name))
    try:
        prepared = prepare(load_config(project, None, {}), Output())
        target = prepared.inputs.target
        api = target.api()
        tag = prepared.candidate.tag
        push_as_built(api, target.repository.path, buildkit_like_image(prepared), tags=[tag])
        change(project, "app.txt", "two\n")

        report = run_build(load_config(project, None, {}), Output())

        assert report.path == "patch", report.path_reason
        written = read_image(api, target.repository.path, report.digest)
        assert top_layer_file(written, "app/app.txt") == b"two\n"
    finally:
        if kind == "ecr":
            boto3.client("ecr").delete_repository(repositoryName=name, force=True)
