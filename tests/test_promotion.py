"""Promotion's registry path (the candidate in the target repository) against the in-process
registry: no engine, no stack. The engine path and the real registries are in test_push.py."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import git
import pytest

from pipeline.config.schema import load_config
from pipeline.console.output import Output
from pipeline.core.errors import CheckFailed, RegistryError, UserError
from pipeline.core.sizes import human_size
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.mediatypes import OCI_INDEX
from pipeline.oci.descriptor import Descriptor
from pipeline.oci.image import Image
from pipeline.oci.layer import Layer
from pipeline.oci.manifest import Index
from pipeline.oci.remote import put_manifest, write_image
from pipeline.promotion.promote import plan_push, promote
from pipeline.promotion.report import PushedTag, PushReport
from tests.support.registry import TestRegistry


@pytest.fixture
def registry() -> Iterator[TestRegistry]:
    with TestRegistry() as running:
        yield running


@pytest.fixture
def project(git_project: Callable[..., Path], tmp_path: Path, registry: TestRegistry) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "VERSION").write_text("1.2.3\n")
    return git_project(source, f"project:\n  name: churn\nregistry:\n  url: {registry.host}\n")


def candidate(payload: str) -> Image:
    data = payload.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entry = tarfile.TarInfo("payload.txt")
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
    return Image.scratch().append_layer(Layer.from_tar(buffer.getvalue()))


def sha_tag(project: Path) -> str:
    return "sha-" + git.Repo(project).head.commit.hexsha[:7]


def run(project: Path, on_pushed: Callable[[PushedTag], None] | None = None) -> PushReport:
    config = load_config(project, environ={})
    return promote(config, Output(), plan_push(config, "1.2.3"), on_pushed=on_pushed)


def test_the_candidate_gets_every_tag_with_its_own_digest(
    project: Path, registry: TestRegistry
) -> None:
    api = RegistryAPI(registry.host)
    image = candidate(str(uuid.uuid4()))
    write_image(api, "churn", image, tags=[sha_tag(project)])
    uploads = len(registry.calls("POST", "/blobs/uploads/"))
    order: list[str] = []

    report = run(project, lambda pushed: order.append(pushed.tag))

    assert report.method == "registry"
    assert report.digest == image.digest
    assert report.config_digest == image.config.descriptor.digest
    assert order == report.tags == ["1.2.3", sha_tag(project), "1.2", "1", "latest"]
    assert {tag: api.digest("churn", tag) for tag in order} == dict.fromkeys(order, image.digest)
    assert len(registry.calls("POST", "/blobs/uploads/")) == uploads  # no blob moved


def test_a_multi_platform_candidate_is_promoted_whole(
    project: Path, registry: TestRegistry
) -> None:
    api = RegistryAPI(registry.host)
    images = [candidate("amd64"), candidate("arm64")]
    for image in images:
        write_image(api, "churn", image)
    index = Index.build(
        [
            Descriptor({**image.manifest.descriptor.to_json(), "platform": {"architecture": arch}})
            for image, arch in zip(images, ["amd64", "arm64"], strict=True)
        ],
        OCI_INDEX,
    )
    put_manifest(api, "churn", sha_tag(project), index)

    report = run(project)

    assert (report.digest, report.config_digest) == (index.digest, None)
    assert api.raw_manifest("churn", "latest").body == index.data


def test_a_released_version_on_another_image_stops_it_before_any_tag(
    project: Path, registry: TestRegistry
) -> None:
    api = RegistryAPI(registry.host)
    write_image(api, "churn", candidate("this commit"), tags=[sha_tag(project)])
    write_image(api, "churn", candidate("an earlier build"), tags=["1.2.3"])
    puts = len(registry.calls("PUT", "/manifests/"))

    with pytest.raises(RegistryError, match="released versions are never overwritten"):
        run(project)

    assert len(registry.calls("PUT", "/manifests/")) == puts


def test_a_candidate_that_is_not_there_says_to_build_first(project: Path) -> None:
    with pytest.raises(UserError, match=rf"{sha_tag(project)} is not in the registry; build"):
        run(project)


def test_a_candidate_over_the_size_budget_is_not_promoted(
    project: Path, registry: TestRegistry
) -> None:
    # Issue 25: build refused it for build.max_image_size after buildx had pushed it, and push
    # promoted it all the same.
    api = RegistryAPI(registry.host)
    image = candidate(str(uuid.uuid4()) * 100)
    write_image(api, "churn", image, tags=[sha_tag(project)])
    size = sum(layer.size for layer in image.layers)

    def push_with_limit(limit: int) -> PushReport:
        config = load_config(project, environ={"PIPELINE_BUILD_MAX_IMAGE_SIZE": f"{limit}B"})
        return promote(config, Output(), plan_push(config, "1.2.3"))

    puts = len(registry.calls("PUT", "/manifests/"))
    with pytest.raises(CheckFailed) as refused:
        push_with_limit(size - 1)
    assert str(refused.value).startswith(
        f"candidate {registry.host}/churn:{sha_tag(project)} is {human_size(size)} (compressed, "
        f"in the registry), over build.max_image_size {size - 1}B: build refused it"
    )
    assert refused.value.exit_code == 2
    assert len(registry.calls("PUT", "/manifests/")) == puts
    assert push_with_limit(size).tags[0] == "1.2.3"  # at the limit: promoted
