"""`prune` deletes old candidate and cache tags and nothing released, on the stack's registry
(images written straight through the registry API: no engine)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline.config.schema import load_config
from pipeline.distribution.client import RawManifest, RegistryAPI, sha256_digest
from pipeline.promotion.prune import prune
from pipeline.registries import resolve_target

REGISTRY = "127.0.0.1:5000"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def image(api: RegistryAPI, path: str, *tags: str) -> str:
    """A one-config image of unique content under `tags`; its digest."""
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                         "config": {"Labels": {"id": uuid.uuid4().hex}}}).encode()  # fmt: skip
    api.upload_blob(path, sha256_digest(config), lambda: [config])
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    manifest = RawManifest(body, OCI_MANIFEST, sha256_digest(body))
    for tag in tags:
        api.put_manifest(path, tag, manifest)
    return manifest.digest


@pytest.mark.stack
@pytest.mark.parametrize("cache_repository", [False, True])
def test_prune_removes_only_old_candidates_and_caches(
    stack, tmp_path: Path, cache_repository: bool
) -> None:
    namespace = f"prune-{uuid.uuid4().hex[:8]}"
    release, staging = f"{namespace}/app", f"{namespace}/app-cache" if cache_repository else ""
    yaml = f"image:\n  name: {REGISTRY}/{release}\n"
    if staging:
        yaml += f"registry:\n  cache_repository: {staging}\n"
    (tmp_path / "pipeline.yaml").write_text(yaml)
    target = resolve_target(load_config(tmp_path))
    api, work = RegistryAPI(REGISTRY), staging or release

    released = image(api, work, "sha-aaaaaaa")
    raw = api.raw_manifest(work, released)
    assert raw is not None
    if staging:  # released from the cache repository, as push does: blobs mounted across
        assert api.mount_blob(release, raw.json()["config"]["digest"], work)
    api.put_manifest(release, "1.0.0", raw)
    attached = image(api, work, "sha-bbbbbbb")
    # What is attached to an image by its digest goes with it, and stays with a kept one.
    pruned_record = f"sha256-{attached.removeprefix('sha256:')}.built"
    image(api, work, pruned_record)
    image(api, work, f"sha256-{released.removeprefix('sha256:')}.built")
    image(api, work, "buildcache-sha-bbbbbbb")
    image(api, work, "sha-bbbbbbb-stage-app-deps")  # a stage the build spliced in
    image(api, work, "sha-ccccccc-dirty")
    image(api, work, "sha-1234567")  # the recent commit
    image(api, work, "buildcache-sha-ddddddd", "buildcache")  # the cache builds start from
    image(api, release, "latest")

    dry = prune(target, recent={"1234567"}, dry_run=True)
    assert api.tags(work) and dry.deleted == (
        "buildcache-sha-bbbbbbb",
        "sha-bbbbbbb",
        "sha-bbbbbbb-stage-app-deps",
        "sha-ccccccc-dirty",
        pruned_record,
    )
    report = prune(target, recent={"1234567"})

    assert report.deleted == dry.deleted
    assert report.kept == ("buildcache-sha-ddddddd", "sha-1234567", "sha-aaaaaaa")
    assert sorted(api.tags(work)) == sorted(
        ["buildcache", "buildcache-sha-ddddddd", "sha-1234567", "sha-aaaaaaa"]
        + [f"sha256-{released.removeprefix('sha256:')}.built"]
        + ([] if staging else ["1.0.0", "latest"])
    )
    assert api.digest(release, "1.0.0") == released
    assert prune(target, recent={"1234567"}).deleted == ()
