"""`build.secrets`: a RUN reads the secret, and it is in no layer, history entry or cache record.

The build pushes the candidate and its registry cache (`mode=max`); every blob of both, layers
unpacked, is searched for the secret's bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import uuid
from io import BytesIO
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.core.errors import ConfigError
from pipeline.distribution.client import RegistryAPI

REGISTRY = "127.0.0.1:5000"


def blobs(api: RegistryAPI, path: str, reference: str) -> dict[str, bytes]:
    """Every blob of a manifest (config and layers), layers gunzipped."""
    manifest = api.manifest(path, reference)
    assert manifest is not None, reference
    found = {manifest["config"]["digest"]: api.get_blob(path, manifest["config"]["digest"])}
    for layer in manifest["layers"]:
        data = api.get_blob(path, layer["digest"])
        found[layer["digest"]] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return found


def file_in_layers(layers: dict[str, bytes], name: str) -> bytes | None:
    for data in layers.values():
        try:
            with tarfile.open(fileobj=BytesIO(data)) as archive:
                member = archive.extractfile(name)
                if member is not None:
                    return member.read()
        except (tarfile.TarError, KeyError):
            continue
    return None


@pytest.mark.stack
def test_a_build_secret_is_used_by_a_run_and_found_nowhere(
    stack, git_project, tmp_path: Path, monkeypatch, capsys
) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("INDEX_TOKEN", secret)
    namespace = f"secrets-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "src"
    source.mkdir()
    (source / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "RUN --mount=type=secret,id=index_token,required=true "
        "sha256sum /run/secrets/index_token | cut -c1-64 > /token.sha256\n"
    )
    project = git_project(
        source,
        f"image:\n  name: {REGISTRY}/{namespace}/app\n  network: host\n"
        "build:\n  secrets:\n    index_token: env:INDEX_TOKEN\n",
    )
    code = main(["build", "--json", "-C", str(project)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert secret not in captured.out + captured.err
    tag = json.loads(captured.out)["image"].rpartition(":")[2]

    api = RegistryAPI(REGISTRY)
    image = blobs(api, f"{namespace}/app", tag)
    used = file_in_layers(image, "token.sha256")
    assert used is not None and used.strip() == hashlib.sha256(secret.encode()).hexdigest().encode()
    cache = blobs(api, f"{namespace}/app", f"buildcache-{tag}")
    everything = {**image, **cache}
    assert len(cache) > 1
    assert [digest for digest, data in everything.items() if secret.encode() in data] == []


def test_a_secret_value_in_the_configuration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("build:\n  secrets:\n    hf: hf_abcdef\n")
    with pytest.raises(ConfigError, match="neither env:VARIABLE nor file:PATH"):
        load_config(tmp_path)
