"""The patch path without an engine: which COPYs are patchable, the layer a COPY makes, and the
patch itself against the in-process registry (a prior image made as BuildKit lays it out)."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.console.output import Output
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.mediatypes import DOCKER_MANIFEST, OCI_LAYER_ZSTD, OCI_MANIFEST
from pipeline.imagebuild.copylayer import Owner, copy_entries
from pipeline.imagebuild.fingerprint import BuildProof, ProofInputs, prove
from pipeline.imagebuild.labels import CREATED_LABEL
from pipeline.imagebuild.patch import PatchRequest, UnusablePrior, patch
from pipeline.imagebuild.patchable import CopySpec, Unpatchable, read_plan
from pipeline.imagebuild.record import built_by_us, record_tag
from pipeline.imagebuild.run import prepare, run_build
from pipeline.oci.image import Image
from pipeline.oci.layer import Layer
from pipeline.oci.remote import write_image
from pipeline.project.buildcontext import read_context
from pipeline.project.dockerignore import DockerIgnore
from tests.support.patching import buildkit_like_image, layer_tar, push_as_built
from tests.support.project import commit_all
from tests.support.registry import TestRegistry

DOCKERFILE = """\
FROM python:3.11-slim AS builder
COPY requirements.txt /tmp/
RUN pip install -r /tmp/requirements.txt
FROM python:3.11-slim
COPY --from=builder /opt /opt
WORKDIR /srv
COPY --chown=10:20 code/ ./code/
COPY --link model/ /models/
COPY *.cfg /etc/
CMD ["python"]
"""
PRIOR_TIME = "2026-01-01T00:00:00Z"
NEW_TIME = "2026-02-01T00:00:00Z"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "code" / "pkg").mkdir(parents=True)
    (tmp_path / "code" / "empty").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".dockerignore").write_text("code/*.log\n")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "code" / "main.py").write_text("print(1)\n")
    (tmp_path / "code" / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "code" / "run.sh").chmod(0o755)
    (tmp_path / "code" / "latest.py").symlink_to("main.py")
    (tmp_path / "code" / "debug.log").write_text("ignored\n")
    (tmp_path / "code" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "model" / "weights.bin").write_bytes(b"\0" * 1000)
    (tmp_path / "app.cfg").write_text("a=1\n")
    return tmp_path


def copies(project: Path) -> dict[str, CopySpec]:
    plan = read_plan(project / "Dockerfile", None, {})
    return {spec.sources[0]: spec for spec in plan.copies}


def test_only_context_copies_after_the_last_run_are_patchable(project: Path) -> None:
    plan = read_plan(project / "Dockerfile", None, {})

    # --from copies a stage, *.cfg is a wildcard: neither is patchable
    assert [spec.created_by for spec in plan.copies] == [
        "COPY --chown=10:20 code/ ./code/ # buildkit",
        "COPY model/ /models/ # buildkit",
    ]
    assert [spec.destination for spec in plan.copies] == ["/srv/code/", "/models/"]
    assert plan.read_elsewhere == ("",)  # the wildcard may read anything
    assert plan.bases == ("python:3.11-slim",)
    after_run = read_plan(_write(project, "FROM a\nCOPY x /x\nRUN true\n"), None, {})
    assert after_run.copies == () and after_run.read_elsewhere == ("x",)
    # another stage copies from the one holding the COPY: its layer is not the only one it makes
    read = "FROM a AS app\nCOPY x /x\nFROM b AS other\nCOPY --from=app /x /y\nFROM app\n"
    assert read_plan(_write(project, read), None, {}).copies == ()


def test_a_copy_layer_has_modes_owners_links_and_no_ignored_file(project: Path) -> None:
    spec = copies(project)["code"]
    entries = copy_entries(
        project, DockerIgnore.read(project / ".dockerignore"), spec, Owner(10, 20)
    )

    seen = {
        name: (m.type, m.mode, m.uid, m.gid, m.linkname, m.mtime)
        for name, (m, _) in _members(layer_tar([], entries, 1234)).items()
    }
    assert seen == {
        "srv/code": (tarfile.DIRTYPE, 0o755, 10, 20, "", 1234),
        "srv/code/empty": (tarfile.DIRTYPE, 0o755, 10, 20, "", 1234),
        "srv/code/latest.py": (tarfile.SYMTYPE, 0o777, 10, 20, "main.py", 1234),
        "srv/code/main.py": (tarfile.REGTYPE, 0o644, 10, 20, "", 1234),
        "srv/code/pkg": (tarfile.DIRTYPE, 0o755, 10, 20, "", 1234),
        "srv/code/pkg/__init__.py": (tarfile.REGTYPE, 0o644, 10, 20, "", 1234),
        "srv/code/run.sh": (tarfile.REGTYPE, 0o755, 10, 20, "", 1234),
    }


def test_a_source_that_is_a_link_is_not_patchable(project: Path) -> None:
    (project / "current").symlink_to("model")
    (project / "model" / "v2").symlink_to(".")
    for source in ("current/", "model/v2/weights.bin"):
        spec = read_plan(_write(project, f"FROM a\nCOPY {source} /m/\n"), None, {}).copies[0]
        with pytest.raises(Unpatchable, match="symbolic link"):
            copy_entries(project, DockerIgnore(), spec, Owner())


def test_a_named_owner_is_no_number_until_the_image_says() -> None:
    assert Owner.parse("10") == Owner(10, 10) and Owner.parse("10:20") == Owner(10, 20)
    assert Owner.parse(None) == Owner()
    assert Owner.parse("app") is None and Owner.parse("10:staff") is None


# -- the patch against the in-process registry -----------------------------------------------


def _write(project: Path, dockerfile: str) -> Path:
    path = project / "other.Dockerfile"
    path.write_text(dockerfile)
    return path


def _proof(project: Path) -> BuildProof:
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY *.cfg /etc/\n", ""))
    plan = read_plan(project / "Dockerfile", None, {})
    build = read_context(project / "Dockerfile", project)
    inputs = ProofInputs(build, {}, None, None, {}, {"b": "sha256:1"})
    return prove(inputs, plan)


def _prior(project: Path, api: RegistryAPI, compression: str = "gzip") -> Image:
    """What a full build pushed: a base layer, the venv, and one layer per patchable COPY, with
    the parent directory entries BuildKit writes, its history and our labels; with zstd, as
    buildx's `compression=zstd,force-compression=true,oci-mediatypes=true` pushes it."""
    ignore = DockerIgnore.read(project / ".dockerignore")
    image = Image.scratch(DOCKER_MANIFEST if compression == "gzip" else OCI_MANIFEST)
    base = Layer.from_tar(_tar({"etc": b"", "etc/os-release": b"debian\n"}), compression)
    image = image.append_layer(base, {"created": "2025-01-01T00:00:00Z", "created_by": "base"})
    venv = Layer.from_tar(_tar({"opt": b"", "opt/venv": b""}), compression)
    image = image.append_layer(venv, {"created": PRIOR_TIME, "created_by": "COPY /opt /opt"})
    for spec in read_plan(project / "Dockerfile", None, {}).copies:
        parents = [tarfile.TarInfo(part) for part in _parents(spec.destination)]
        for info in parents:
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o711, 5
        # what BuildKit gave a named owner: app's ids in the image's /etc/passwd
        owner = Owner.parse(spec.chown) or Owner(1000, 1001)
        tar = layer_tar(parents, copy_entries(project, ignore, spec, owner), 1)
        image = image.append_layer(
            Layer.from_tar(tar, compression), {"created": PRIOR_TIME, "created_by": spec.created_by}
        )
    history = list(image.config.history)  # WORKDIR: a history entry without a layer
    history.insert(2, {"created": PRIOR_TIME, "created_by": "WORKDIR /srv", "empty_layer": True})
    image = image.with_config(image.config.with_history(history))
    return image.with_labels({**_proof(project).labels, CREATED_LABEL: PRIOR_TIME})


def _members(tar: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as opened:
        found = {}
        for member in opened:
            handle = opened.extractfile(member) if member.isfile() else None
            found[member.name] = (member, handle.read() if handle else None)
        return found


def _parents(destination: str) -> list[str]:
    parts = destination.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if name.count("/") == 0 or not data:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _request(
    project: Path, api: RegistryAPI, priors: list[str], compression: str = "gzip"
) -> PatchRequest:
    proof = _proof(project)
    return PatchRequest(
        api=api,
        path="team/app",
        tag="sha-new",
        priors=priors,
        build=read_context(project / "Dockerfile", project),
        plan=read_plan(project / "Dockerfile", None, {}),
        proof=proof,
        labels={**proof.labels, CREATED_LABEL: NEW_TIME, "org.opencontainers.image.revision": "b"},
        committed_at=1000,
        compression=compression,
    )


def test_a_code_change_redoes_its_layer_only(project: Path) -> None:
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        prior = _prior(project, api)
        push_as_built(api, "team/app", prior, tags=["sha-old"])
        (project / "code" / "main.py").write_text("print(2)\n")
        (project / "code" / "run.sh").unlink()

        patched = patch(_request(project, api, ["sha-gone", "sha-old"]))

        assert patched.prior == "sha-old"
        assert patched.redone == ["COPY --chown=10:20 code/ ./code/ # buildkit"]
        image = patched.image
        assert image.layers[:2] == prior.layers[:2] and image.layers[3] == prior.layers[3]
        assert image.layers[2] != prior.layers[2]
        assert patched.written.count("uploaded") == 2  # the new layer and the config
        assert api.digest("team/app", "sha-new") == image.digest
        members = _members(gzip.decompress(api.get_blob("team/app", image.layers[2].digest)))
        # the parent directory as the prior layer had it; the deleted file gone
        assert (members["srv"][0].mode, members["srv"][0].mtime) == (0o711, 5)
        assert "srv/code/run.sh" not in members
        assert members["srv/code/main.py"][1] == b"print(2)\n"
        # a retried job: this commit's own candidate, tagged again as it is
        again = patch(_request(project, api, ["sha-new", "sha-old"]))
        assert again.image.digest == image.digest and again.redone == []
        assert again.written.count("uploaded") == 0
        config = image.config
        assert config.labels["org.opencontainers.image.revision"] == "b"
        assert [entry["created"] for entry in config.history] == [
            "2025-01-01T00:00:00Z", NEW_TIME, NEW_TIME, NEW_TIME, NEW_TIME,
        ]  # fmt: skip


def test_a_zstd_image_is_patched_with_zstd_layers(project: Path) -> None:
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        prior = _prior(project, api, "zstd")
        push_as_built(api, "team/app", prior, tags=["sha-old"])
        (project / "code" / "main.py").write_text("print(2)\n")

        patched = patch(_request(project, api, ["sha-old"], "zstd"))

        image = patched.image
        assert image.manifest.media_type == OCI_MANIFEST
        assert {layer.media_type for layer in image.layers} == {OCI_LAYER_ZSTD}
        assert image.layers[2] != prior.layers[2] and image.layers[3] == prior.layers[3]
        blob = api.get_blob("team/app", image.layers[2].digest)
        members = _members(zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read())
        # the parent directory read from the prior zstd layer's head
        assert (members["srv"][0].mode, members["srv"][0].mtime) == (0o711, 5)
        assert members["srv/code/main.py"][1] == b"print(2)\n"


@pytest.mark.parametrize(("built", "configured"), [("gzip", "zstd"), ("zstd", "gzip")])
def test_a_prior_compressed_otherwise_is_built_in_full(
    project: Path, built: str, configured: str
) -> None:
    """A full build with the other compression would not keep its layers: no patch equals it."""
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        push_as_built(api, "team/app", _prior(project, api, built), tags=["sha-old"])
        (project / "code" / "main.py").write_text("print(2)\n")

        with pytest.raises(Unpatchable) as caught:
            patch(_request(project, api, ["sha-old"], configured))

        assert str(caught.value) == (
            f"prior image sha-old has {built} layers and build.compression is {configured}: a "
            "full build compresses them anew"
        )
        assert api.digest("team/app", "sha-new") is None


def test_a_named_owner_gets_the_ids_the_full_build_gave(project: Path) -> None:
    (project / "Dockerfile").write_text(DOCKERFILE.replace("--chown=10:20", "--chown=app"))
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        push_as_built(api, "team/app", _prior(project, api), tags=["sha-old"])
        (project / "code" / "main.py").write_text("print(2)\n")

        patched = patch(_request(project, api, ["sha-old"]))

        assert patched.redone == ["COPY --chown=app code/ ./code/ # buildkit"]
        layer = api.get_blob("team/app", patched.image.layers[2].digest)
        owners = {
            name: (member.uid, member.gid)
            for name, (member, _) in _members(gzip.decompress(layer)).items()
        }
        assert owners.pop("srv") == (0, 0)  # a parent, as the prior layer had it
        assert set(owners.values()) == {(1000, 1001)} and "srv/code/main.py" in owners


def test_what_cannot_be_proven_is_not_patched(project: Path) -> None:
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        with pytest.raises(Unpatchable, match="no prior image in the registry"):
            patch(_request(project, api, ["sha-old"]))

        prior = _prior(project, api)
        unlabelled = prior.with_labels({"io.ml-release-pipeline.build.fingerprint": None})
        write_image(api, "team/app", unlabelled, tags=["sha-old"])
        with pytest.raises(Unpatchable, match="not built by us"):
            patch(_request(project, api, ["sha-old"]))

        push_as_built(api, "team/app", prior, tags=["sha-old"])
        (project / "requirements.txt").write_text("numpy\nscipy\n")
        with pytest.raises(Unpatchable, match="changed since sha-old: build-context files"):
            patch(_request(project, api, ["sha-old"]))


def test_an_image_pushed_over_a_candidate_tag_is_not_patched_on(project: Path) -> None:
    """Derived from our candidate (FROM it plus a layer) and pushed to its tag: the labels are
    ours, the image is not."""
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        prior = _prior(project, api)
        push_as_built(api, "team/app", prior, tags=["sha-old"])
        derived = prior.append_layer(
            Layer.from_tar(_tar({"foreign": b"x"})), {"created_by": "RUN touch /foreign"}
        )
        write_image(api, "team/app", derived, tags=["sha-old"])
        (project / "code" / "main.py").write_text("print(2)\n")

        with pytest.raises(UnusablePrior) as caught:
            patch(_request(project, api, ["sha-old"]))

        assert str(caught.value) == (
            f"prior image {registry.host}/team/app:sha-old ({derived.digest}) carries our labels "
            "but is not provably an image our build or patch pushed (no "
            f"{record_tag(derived.digest)} record beside it): an image pushed over that tag, or "
            "one older than the records"
        )
        assert api.digest("team/app", "sha-new") is None  # nothing written
        # Ours again on the tag: patched on, and the patch's own image gets its record.
        write_image(api, "team/app", prior, tags=["sha-old"])
        patched = patch(_request(project, api, ["sha-old"]))
        assert built_by_us(api, "team/app", patched.image.digest)


def test_a_prior_image_with_a_blob_gone_is_not_patched_on(project: Path) -> None:
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        prior = _prior(project, api)
        push_as_built(api, "team/app", prior, tags=["sha-old"])
        registry.links["team/app"].discard(prior.layers[1].digest)  # deleted from the repository
        (project / "code" / "main.py").write_text("print(2)\n")

        with pytest.raises(UnusablePrior) as caught:
            patch(_request(project, api, ["sha-old"]))

        assert str(caught.value) == (
            f"prior image {registry.host}/team/app:sha-old lacks its layer blob "
            f"{prior.layers[1].digest} in the registry (deleted or garbage-collected), so it is "
            "not patched on"
        )
        assert api.digest("team/app", "sha-new") is None


# -- the build step end to end, without an engine ----------------------------------------------


def test_the_build_step_patches_without_an_engine(
    git_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`FROM scratch` asks no engine for a base digest: a code-only commit after an image of
    ours is built, pushed and reported with no engine at all (DOCKER_HOST points nowhere)."""
    source = _engine_free_source(tmp_path, monkeypatch)
    with TestRegistry() as registry:
        project = git_project(source, f"registry:\n  url: {registry.host}/team\n")
        config = load_config(project, None, {})
        api = RegistryAPI(registry.host)
        prior = buildkit_like_image(prepare(config, Output()))
        push_as_built(api, "team/project", prior, tags=["0.1.0"])
        (project / "app.txt").write_text("two\n")
        commit_all(project, "fix: code only")
        reads = _count_reads(monkeypatch, project)

        report = run_build(load_config(project, None, {}), Output())

        # One reading for the secret scan, the dirty check, the proof and the patch.
        assert reads == Counter({"ignore file parsed": 1, "context walked": 1, "git status": 1})

        assert (report.path, report.patched_layers) == ("patch", ["COPY app.txt /app/ # buildkit"])
        assert report.path_reason == "only COPY app.txt /app/ # buildkit changed since 0.1.0"
        assert api.digest("team/project", report.image.rpartition(":")[2]) == report.digest
        assert report.as_dict()["path"] == "patch" and "path: patch" in report.text()


def _count_reads(monkeypatch: pytest.MonkeyPatch, context: Path) -> Counter[str]:
    """From now on, how often the ignore file is parsed, `context` walked and `git status` run."""
    import git

    counts: Counter[str] = Counter()
    parse = DockerIgnore.parse.__func__  # type: ignore[attr-defined]
    walk = os.walk
    call = git.cmd.Git._call_process

    def counted_parse(cls: type[DockerIgnore], text: str) -> DockerIgnore:
        counts["ignore file parsed"] += 1
        return parse(cls, text)

    def counted_walk(top: Path, *args: Any, **kwargs: Any) -> Iterator[Any]:
        counts["context walked"] += Path(top).resolve() == context.resolve()
        return walk(top, *args, **kwargs)

    def counted_call(self: git.cmd.Git, method: str, *args: Any, **kwargs: Any) -> Any:
        counts["git status"] += method == "status"
        return call(self, method, *args, **kwargs)

    monkeypatch.setattr(DockerIgnore, "parse", classmethod(counted_parse))
    monkeypatch.setattr(os, "walk", counted_walk)
    monkeypatch.setattr(git.cmd.Git, "_call_process", counted_call)
    return counts


def test_a_mode_git_cannot_see_never_changes_a_commits_candidate(
    git_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chmod 600` on a committed file: git status is clean (with core.fileMode false, or any
    mode but the executable bit), the image would differ. The candidate keeps its digest."""
    source = _engine_free_source(tmp_path, monkeypatch)
    with TestRegistry() as registry:
        project = git_project(source, f"registry:\n  url: {registry.host}/team\n")
        subprocess.run(["git", "config", "core.fileMode", "false"], cwd=project, check=True)
        prepared = prepare(load_config(project, None, {}), Output())
        api = RegistryAPI(registry.host)
        tag = prepared.candidate.tag or ""
        push_as_built(api, "team/project", buildkit_like_image(prepared), tags=[tag])
        before = api.digest("team/project", tag)
        tags = api.tags("team/project")
        (project / "app.txt").chmod(0o600)

        code = main(["build", "-C", str(project)])

        assert code == 2
        message = capsys.readouterr().err
        assert f"{registry.host}/team/project:{tag} ({before}) was built from this commit " in (
            message
        )
        assert "the sources of the COPY on Dockerfile line 2" in message
        assert "nothing was built or pushed" in message and "chmod 644 or 755" in message
        assert api.digest("team/project", tag) == before and api.tags("team/project") == tags
        # The modes back as the commit has them: the same candidate, tagged as it is.
        (project / "app.txt").chmod(0o644)
        report = run_build(load_config(project, None, {}), Output())
        assert (report.path, report.digest) == ("patch", before)


def _engine_free_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `FROM scratch` project (no base digest to ask an engine for), DOCKER_HOST at nothing."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text('FROM scratch\nCOPY app.txt /app/\nCMD ["/app/app.txt"]\n')
    (source / "app.txt").write_text("one\n")
    (source / ".dockerignore").write_text(".git\n")
    return source
