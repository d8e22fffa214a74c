"""`registry.cache_repository`: candidates and build caches in a repository of their own, so the
release repository holds release tags only and can be IMMUTABLE (on the ECR stand-in: moto's
API for the repositories, the registry under the ECR host name for the images).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.distribution.client import RawManifest, RegistryAPI

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture
def names(stack) -> Iterator[tuple[str, str]]:
    import boto3

    name = f"tests/imm-{uuid.uuid4().hex[:8]}"
    yield name, f"{name}-cache"
    ecr = boto3.client("ecr")
    for repository in (name, f"{name}-cache"):
        with contextlib.suppress(ecr.exceptions.RepositoryNotFoundException):
            ecr.delete_repository(repositoryName=repository, force=True)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code = main([*argv[:1], "--json", *argv[1:]])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.stack
def test_a_retried_release_into_an_immutable_repository(
    names: tuple[str, str], git_project, tmp_path: Path, capsys, monkeypatch
) -> None:
    import boto3

    name, cache = names
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text("FROM scratch\nCOPY app.txt /app.txt\n")
    (source / "app.txt").write_text(f"{uuid.uuid4()}\n")
    (source / "VERSION").write_text("1.2.3\n")
    project = git_project(
        source,
        f"image:\n  name: {ECR}/{name}\n"
        f"registry:\n  ecr_tag_mutability: IMMUTABLE\n  cache_repository: {cache}\n"
        "version:\n  image_tags: ['{version}', 'sha-{sha}']\n",
    )
    ecr = boto3.client("ecr")
    api = RegistryAPI(ECR)
    digests = []
    written: list[tuple[str, str]] = []
    put_manifest = RegistryAPI.put_manifest

    def spy(self: RegistryAPI, path: str, reference: str, manifest: RawManifest) -> str:
        written.append((path, reference))
        return put_manifest(self, path, reference, manifest)

    monkeypatch.setattr(RegistryAPI, "put_manifest", spy)
    for _attempt in ("first", "retried"):
        written.clear()
        build = run(capsys, "build", "-C", str(project))
        assert build["image"].startswith(f"{ECR}/{cache}:sha-")
        pushed = run(capsys, "push", "-C", str(project))
        assert pushed["method"] == "registry"  # blobs mounted from the cache repository
        digests.append(pushed["digest"])
        sha = build["image"].rpartition(":")[2]
        assert sorted(api.tags(name)) == sorted(["1.2.3", sha])
        assert api.digest(name, "1.2.3") == api.digest(cache, sha) == pushed["digest"]
    # The retried job wrote no tag of the release repository again: an IMMUTABLE one refuses
    # even the same manifest under an existing tag (the stand-in registry does not enforce it).
    assert [path for path, _ in written if path == name] == []
    assert digests[0] == digests[1]
    mutability = {
        r["repositoryName"]: r["imageTagMutability"]
        for r in ecr.describe_repositories(repositoryNames=[name, cache])["repositories"]
    }
    assert mutability == {name: "IMMUTABLE", cache: "MUTABLE"}
    assert {"buildcache", f"buildcache-{sha}", sha} <= set(api.tags(cache))
