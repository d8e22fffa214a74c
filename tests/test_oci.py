"""The OCI image model (`pipeline.oci`): reproducible layers, edits that make new images, and
images read from and written to the in-process registry (no engine, no root, no stack)."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from pipeline.core.retry import RetryPolicy
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_LAYER,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
)
from pipeline.oci.descriptor import Descriptor
from pipeline.oci.image import Image
from pipeline.oci.layer import Layer, TarOptions, tree_layer, tree_tar
from pipeline.oci.manifest import Index, Manifest
from pipeline.oci.remote import put_manifest, read_image, read_manifest, write_image
from tests.support.registry import TestRegistry

FAST = RetryPolicy(retries=2, first_delay=0.01, max_delay=0.02)


def make_tree(root: Path, files: dict[str, str], mtime: int) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "run.sh").chmod(0o775)
    for path in [*root.rglob("*"), root]:
        os.utime(path, (mtime, mtime))
    return root


APP = {"app.py": "print('hi')\n", "run.sh": "#!/bin/sh\n", "pkg/__init__.py": "", "pkg/m.py": "x"}


@pytest.fixture
def registry() -> Iterator[TestRegistry]:
    with TestRegistry() as running:
        yield running


def image_with(*contents: bytes, media_type: str = OCI_MANIFEST) -> Image:
    image = Image.scratch(media_type)
    for number, content in enumerate(contents):
        image = image.append_layer(layer_of(content), {"created_by": f"RUN step {number}"})
    return image


def layer_of(content: bytes) -> Layer:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entry = tarfile.TarInfo("data.txt")
        entry.size = len(content)
        tar.addfile(entry, io.BytesIO(content))
    return Layer.from_tar(buffer.getvalue())


# -- reproducible layers -------------------------------------------------------------------


def test_the_same_tree_twice_gives_the_same_layer_digest(tmp_path: Path) -> None:
    """Other times, other modes (umask), another order of creation: the same layer."""
    first = make_tree(tmp_path / "a", APP, mtime=1_000_000)
    second = make_tree(tmp_path / "b", dict(reversed(APP.items())), mtime=2_000_000)
    (second / "app.py").chmod(0o600)
    options = TarOptions(mtime=1_700_000_000)
    one, two = tree_layer(first, "app", options), tree_layer(second, "app", options)
    assert one == two
    assert one.descriptor().digest == two.descriptor().digest
    changed = make_tree(tmp_path / "c", {**APP, "app.py": "print('bye')\n"}, mtime=1_000_000)
    assert tree_layer(changed, "app", options).diff_id != one.diff_id


def test_a_layer_tar_is_sorted_owned_by_root_and_timeless(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree", APP, mtime=1_234_567)
    layer = tree_layer(root, "/srv/app/", TarOptions(mtime=42))
    blob = b"".join(layer.source.chunks())
    assert blob[4:8] == b"\0\0\0\0"  # gzip's own timestamp
    tar = gzip.decompress(blob)
    assert layer.diff_id == Layer.from_tar(tar).diff_id
    with tarfile.open(fileobj=io.BytesIO(tar)) as opened:
        members = opened.getmembers()
    names = [m.name for m in members]
    assert names == [
        "srv",
        "srv/app",
        "srv/app/app.py",
        "srv/app/pkg",
        "srv/app/pkg/__init__.py",
        "srv/app/pkg/m.py",
        "srv/app/run.sh",
    ]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 42)}
    modes = {m.name: m.mode for m in members}
    assert modes["srv/app/run.sh"] == 0o755 and modes["srv/app/app.py"] == 0o644
    assert tree_tar(root) != tree_tar(root, "srv")  # the destination is part of the layer


# -- edits make new images -----------------------------------------------------------------


def test_appending_a_layer_keeps_config_and_manifest_in_step() -> None:
    base = image_with(b"one")
    grown = base.append_layer(layer_of(b"two"), {"created_by": "COPY app /app"})
    assert len(base.layers) == 1  # the image it was made from is untouched
    assert grown.manifest.config == grown.config.descriptor
    assert grown.config.diff_ids == (layer_of(b"one").diff_id, layer_of(b"two").diff_id)
    assert [h["created_by"] for h in grown.config.history] == ["RUN step 0", "COPY app /app"]
    assert [layer.media_type for layer in grown.layers] == [OCI_LAYER, OCI_LAYER]
    assert grown.digest != base.digest


def test_a_docker_image_gets_docker_layers() -> None:
    image = image_with(b"one", media_type=DOCKER_MANIFEST)
    assert image.config.media_type == DOCKER_CONFIG
    assert [layer.media_type for layer in image.layers] == [DOCKER_LAYER]


def test_a_zstd_layer_is_the_same_tar_under_its_own_media_type(tmp_path: Path) -> None:
    tar = tree_tar(make_tree(tmp_path / "tree", APP, mtime=1), "app")
    layer = Layer.from_tar(tar, "zstd")
    blob = b"".join(layer.source.chunks())
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read() == tar
    assert layer.diff_id == Layer.from_tar(tar).diff_id != layer.digest
    assert Layer.from_tar(tar, "zstd") == layer  # reproducible, as a gzip layer is
    image = Image.scratch(OCI_MANIFEST).append_layer(layer).append_layer(Layer.from_tar(tar))
    assert [d.media_type for d in image.layers] == [OCI_LAYER_ZSTD, OCI_LAYER]
    with pytest.raises(ValueError, match="no zstd layer type"):
        Image.scratch(DOCKER_MANIFEST).append_layer(layer)


def test_replacing_a_layer_changes_that_layer_its_diff_id_and_history_only() -> None:
    config = {"config": {"Labels": {"team": "ml"}}}
    image = Image.scratch(OCI_MANIFEST, **config)
    image = image.with_config(
        image.config.with_history([{"created_by": "ENV A=1", "empty_layer": True}])
    )
    for content in (b"base", b"app v1", b"tail"):
        image = image.append_layer(layer_of(content), {"created_by": f"step {content!r}"})
    patched = image.replace_layer(1, layer_of(b"app v2"), created_by="COPY app /app")

    assert patched.layers[0] == image.layers[0] and patched.layers[2] == image.layers[2]
    assert patched.layers[1] == layer_of(b"app v2").descriptor()
    assert patched.config.diff_ids[1] == layer_of(b"app v2").diff_id
    # The ENV entry made no layer: layer 1's entry is the third.
    assert [h["created_by"] for h in patched.config.history] == [
        "ENV A=1",
        "step b'base'",
        "COPY app /app",
        "step b'tail'",
    ]
    assert patched.config.labels == {"team": "ml"}
    assert layer_of(b"app v1").descriptor().digest not in patched.sources
    with pytest.raises(IndexError):
        image.replace_layer(3, layer_of(b"x"))


def test_labels_are_set_and_removed_and_the_rest_kept() -> None:
    image = Image.scratch(config={"Labels": {"a": "1", "b": "2"}, "Cmd": ["serve"]})
    labelled = image.with_labels({"b": None, "c": "3"})
    assert labelled.config.labels == {"a": "1", "c": "3"}
    assert labelled.config.json["config"]["Cmd"] == ["serve"]
    assert image.config.labels == {"a": "1", "b": "2"}


def test_an_edit_keeps_the_fields_it_does_not_model() -> None:
    config = Descriptor.of("application/vnd.oci.image.config.v1+json", b"{}")
    layer = Descriptor({**layer_of(b"x").descriptor().to_json(), "urls": ["https://x/blob"]})
    manifest = Manifest.build(config, [layer], annotations={"org.example": "kept"})
    edited = manifest.with_layers([*manifest.layers, layer_of(b"y").descriptor()])
    assert edited.annotations == {"org.example": "kept"}
    assert edited.layers[0].fields["urls"] == ["https://x/blob"]
    assert Manifest(manifest.data, manifest.media_type).digest == manifest.digest


# -- remote read and write -----------------------------------------------------------------


def test_an_image_written_and_read_back_keeps_its_digest(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    image = image_with(b"one", b"two").with_labels({"version": "1.0.0"})
    written = write_image(api, "team/app", image, tags=["1.0.0"])
    assert written.digest == image.digest == api.digest("team/app", "1.0.0")
    back = read_image(api, "team/app", "1.0.0")
    assert back.manifest.data == image.manifest.data and back.config == image.config
    sent = b"".join(back.source(back.layers[1].digest).chunks())
    assert sent == b"".join(layer_of(b"two").source.chunks())


def test_writing_uploads_only_what_the_registry_lacks(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    write_image(api, "team/app", image_with(b"base", b"app v1"))
    released = read_image(api, "team/app", image_with(b"base", b"app v1").digest)
    patched = released.replace_layer(1, layer_of(b"app v2")).with_labels({"patched": "yes"})
    before = len(registry.calls("PUT", "/blobs/uploads/"))

    written = write_image(api, "team/app", patched, tags=["1.0.1"])

    assert written.blobs == {
        patched.layers[0].digest: "present",
        patched.layers[1].digest: "uploaded",
        patched.config.descriptor.digest: "uploaded",
    }
    assert len(registry.calls("PUT", "/blobs/uploads/")) - before == 2
    assert read_image(api, "team/app", "1.0.1").config.labels == {"patched": "yes"}


def test_another_repository_mounts_and_another_registry_streams(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    image = image_with(b"base", b"app")
    write_image(api, "team/app", image, tags=["1.0.0"])
    remote = read_image(api, "team/app", "1.0.0")

    mounted = write_image(api, "team/other", remote, tags=["1.0.0"])
    # Layers and config alike: nothing is copied within a registry.
    assert list(mounted.blobs.values()) == ["mounted", "mounted", "mounted"]

    with TestRegistry() as elsewhere:
        other = RegistryAPI(elsewhere.host, policy=FAST)
        copied = write_image(other, "mirror/app", remote, tags=["1.0.0"])
        assert copied.count("uploaded") == 3 and copied.digest == image.digest
        assert elsewhere.blobs[image.layers[1].digest] == b"".join(layer_of(b"app").source.chunks())


def test_an_index_is_read_as_its_amd64_image(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    arm, amd = image_with(b"arm"), image_with(b"amd")
    for image in (arm, amd):
        write_image(api, "team/app", image)
    index = Index.build(
        [
            Descriptor(
                {**arm.manifest.descriptor.to_json(), "platform": {"architecture": "arm64"}}
            ),
            Descriptor(
                {**amd.manifest.descriptor.to_json(), "platform": {"architecture": "amd64"}}
            ),
        ]
    )
    put_manifest(api, "team/app", "multi", index)
    assert read_manifest(api, "team/app", "multi") == index
    assert read_image(api, "team/app", "multi").digest == amd.digest
    assert [m.platform["architecture"] for m in index.manifests] == ["arm64", "amd64"]


def test_a_layer_written_to_disk_is_the_blob_made_in_memory_and_never_held_whole(
    tmp_path: Path,
) -> None:
    import tracemalloc

    weights = tmp_path / "weights.bin"
    with weights.open("wb") as handle:
        for block in range(64):
            handle.write(os.urandom(1 << 20) if block % 2 else bytes(1 << 20))

    def write_tar(out) -> None:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("models/weights.bin")
            info.size = weights.stat().st_size
            with weights.open("rb") as data:
                tar.addfile(info, data)

    tracemalloc.start()
    try:
        on_disk = Layer.written(tmp_path / "layer.tar.gz", write_tar)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 1e6:.0f} MB held for a 64 MB layer"
    buffer = io.BytesIO()
    write_tar(buffer)
    in_memory = Layer.from_tar(buffer.getvalue())
    assert (on_disk.digest, on_disk.size, on_disk.diff_id) == (
        in_memory.digest,
        in_memory.size,
        in_memory.diff_id,
    )
    assert on_disk.size == (tmp_path / "layer.tar.gz").stat().st_size
