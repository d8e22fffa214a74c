"""`build.compression: zstd` on the example, against the real stack: buildx pushes zstd layers
under OCI media types; a code-only patch and an app-dependency splice on that image write zstd
layers too; a wiped engine pulls the result and the smoke test passes on it; it equals a full
zstd build of the same commit; the commit's candidate is never recompressed under its tag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.mediatypes import DOCKER_LAYER, OCI_LAYER_ZSTD, OCI_MANIFEST
from tests.support.engine import wipe_local_images
from tests.support.project import churn_repository, commit_all
from tests.test_patch_build import _repository, assert_same_as_full_build, build
from tests.test_splice_build import SPLICED, add_line

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory, stack: object) -> Path:
    return churn_repository(
        tmp_path_factory.mktemp("zstd"), "test-zstd", "build:\n  compression: zstd\n"
    )


def manifest_of(report: dict) -> dict:
    host, _, path = _repository(report).partition("/")
    raw = RegistryAPI(host).raw_manifest(path, report["digest"])
    assert raw is not None
    return {"mediaType": raw.media_type, **json.loads(raw.body)}


def assert_all_zstd(report: dict) -> None:
    manifest = manifest_of(report)
    assert manifest["mediaType"] == OCI_MANIFEST
    assert {layer["mediaType"] for layer in manifest["layers"]} == {OCI_LAYER_ZSTD}


class TestZstd:
    """One story, in order: a cold zstd build, a code-only patch, a splice, smoke, equality."""

    def test_cold_build_pushes_zstd_layers_under_oci_media_types(
        self, churn, capsys, docker_client
    ) -> None:
        wipe_local_images(docker_client)
        report = build(capsys, churn)

        assert report["path"] == "full"
        assert_all_zstd(report)  # the base image's layers recompressed too

    def test_a_code_only_patch_stays_zstd(self, churn, capsys) -> None:
        with (churn / "serve" / "app.py").open("a") as handle:
            handle.write("# a code-only change\n")
        commit_all(churn, "fix: code only")

        report = build(capsys, churn)

        assert report["path"] == "patch", report["path_reason"]
        assert report["patched_layers"] == ["COPY serve/ /app/serve/ # buildkit"]
        assert_all_zstd(report)

    def test_an_app_dependency_splice_stays_zstd(self, churn, capsys) -> None:
        add_line(churn, "requirements-app.txt", "python-multipart==0.0.9", "feat: multipart")

        report = build(capsys, churn)

        assert report["path"] == "patch", report["path_reason"]
        assert report["patched_layers"] == [SPLICED]
        assert_all_zstd(report)

    def test_it_equals_a_full_build_and_a_wiped_engine_pulls_it_and_serves(
        self, churn, capsys, docker_client
    ) -> None:
        patched = build(capsys, churn)  # this commit's candidate again: the same digest
        assert patched["path"] == "patch" and patched["patched_layers"] == []
        # Before the wipe: the full build takes the app stage from the engine's cache, as the
        # splice built it (pip's bytecode is not the same byte for byte from one run to another).
        assert_same_as_full_build(capsys, churn, patched)
        wipe_local_images(docker_client)

        code = main(["smoke", "--json", "-C", str(churn), "--image", patched["image"]])
        captured = capsys.readouterr()
        assert code == 0, captured.err

    def test_the_candidate_is_never_recompressed_under_its_tag(self, churn, capsys) -> None:
        code = main(["build", "-C", str(churn), "--set", "build.compression=gzip"])
        err = capsys.readouterr().err

        assert code == 2
        assert "was built from this commit with zstd layers, and build.compression is gzip" in err
        assert "nothing was built or pushed" in err

    def test_a_gzip_build_after_it_on_the_same_builder_writes_no_zstd_layer(
        self, churn, capsys
    ) -> None:
        """The builder's cache now holds zstd blobs of these layers: a gzip build must not
        reuse them (a Docker schema 2 manifest naming a zstd blob does not pull)."""
        with (churn / "serve" / "app.py").open("a") as handle:
            handle.write("# back to gzip\n")
        commit_all(churn, "fix: back to gzip")

        report = build(capsys, churn, "--set", "build.compression=gzip")

        assert report["path"] == "full"
        types = {layer["mediaType"] for layer in manifest_of(report)["layers"]}
        assert types == {DOCKER_LAYER}
