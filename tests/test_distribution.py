"""The registry layer (`pipeline.distribution`) against the in-process registry: no root, no stack.

References, which registry credentials go to, blobs (exists, get, monolithic and chunked
upload, cross-repository mount), manifests, tags, bearer tokens per scope, the registry's
error codes, and an upload that starts over after a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pipeline.core.errors import RegistryError
from pipeline.core.retry import RetryPolicy
from pipeline.distribution.auth import Credentials, Keychain
from pipeline.distribution.client import RawManifest, RegistryAPI, sha256_digest
from pipeline.distribution.errors import RegistryAPIError
from pipeline.distribution.mediatypes import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from pipeline.distribution.reference import ImageRef
from tests.support.registry import TestRegistry

FAST = RetryPolicy(retries=2, first_delay=0.01, max_delay=0.02)
USERS = {"user": "secret"}


@pytest.fixture
def registry() -> Iterator[TestRegistry]:
    with TestRegistry() as running:
        yield running


@pytest.fixture
def guarded() -> Iterator[TestRegistry]:
    with TestRegistry(users=USERS) as running:
        yield running


def upload(api: RegistryAPI, path: str, data: bytes, size: int = 0) -> str:
    """`data` uploaded as one chunk, or in chunks of `size` bytes."""
    digest = sha256_digest(data)
    pieces = [data[i : i + size] for i in range(0, len(data), size)] if size else [data]
    api.upload_blob(path, digest, lambda: iter(pieces))
    return digest


def manifest_of(config: str, *layers: str, sizes: int = 0) -> RawManifest:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": sizes},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": sizes} for d in layers],
    }
    body = json.dumps(document).encode()
    return RawManifest(body, OCI_MANIFEST, sha256_digest(body))


# -- references ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "path", "tag", "digest", "engine_name"),
    [
        ("python:3.11-slim", "docker.io", "library/python", "3.11-slim", None, "python"),
        ("myorg/churn", "docker.io", "myorg/churn", None, None, "myorg/churn"),
        ("docker.io/python", "docker.io", "library/python", None, None, "python"),
        ("index.docker.io/org/x:1", "docker.io", "org/x", "1", None, "org/x"),
        ("127.0.0.1:5000/team/churn", "127.0.0.1:5000", "team/churn", None, None, None),
        ("localhost/churn:sha-abc", "localhost", "churn", "sha-abc", None, None),
        ("nvcr.io/nvidia/cuda:12.1-devel@sha256:ab", "nvcr.io", "nvidia/cuda", "12.1-devel",
         "sha256:ab", None),
        ("reg.example:443/a/b@sha256:cd", "reg.example:443", "a/b", None, "sha256:cd", None),
        # lint reads references whose ARGs are not expanded: parsed, not refused
        ("${BASE}:${TAG}", "docker.io", "library/${BASE}", "${TAG}", None, "${BASE}"),
    ],
)  # fmt: skip
def test_references_split_the_way_docker_does(
    text: str, host: str, path: str, tag: str | None, digest: str | None, engine_name: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.host, ref.path, ref.tag, ref.digest) == (host, path, tag, digest)
    assert ref.repository == (engine_name or f"{host}/{path}")
    assert ImageRef.parse(str(ref)) == ref
    assert ref.reference == (digest or tag)


def test_a_reference_names_a_repository_on_any_registry_or_mirror() -> None:
    assert ImageRef.parse("mirror.example/nvidia/cuda:12").is_repository("nvidia/cuda")
    assert ImageRef.parse("python").is_repository("python")
    assert not ImageRef.parse("team/notcuda").is_repository("cuda")
    retagged = ImageRef.parse("127.0.0.1:5000/team/churn:old").with_tag("1.0.0")
    assert str(retagged) == "127.0.0.1:5000/team/churn:1.0.0"
    assert retagged.same_repository(ImageRef.parse("127.0.0.1:5000/team/churn@sha256:ab"))


# -- credentials by host -------------------------------------------------------------------


def test_each_registry_is_looked_up_once_when_first_asked() -> None:
    asked: list[str] = []

    def lookup(host: str) -> Credentials | None:
        asked.append(host)
        return Credentials("me", "s3cret", registry=host) if host == "docker.io" else None

    keychain = Keychain(lookup)
    assert asked == []  # nothing is asked before a request goes somewhere
    assert keychain.resolve("ghcr.io") is None
    assert keychain.resolve("registry-1.docker.io") == keychain.resolve("docker.io")
    assert keychain.logins(["ghcr.io", "index.docker.io", "docker.io"]) == (
        Credentials("me", "s3cret", registry="docker.io"),
    )
    assert asked == ["ghcr.io", "docker.io"]


# -- blobs ---------------------------------------------------------------------------------


def test_a_blob_uploaded_whole_is_there_and_reads_back(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    data = b"layer bytes" * 100
    assert api.blob_size("team/app", sha256_digest(data)) is None
    digest = upload(api, "team/app", data)
    assert api.blob_size("team/app", digest) == len(data)
    assert api.get_blob("team/app", digest) == data
    assert registry.calls("PATCH") == []  # monolithic: POST, then one PUT with the body
    assert len(registry.calls("PUT", "/blobs/uploads/")) == 1


def test_a_blob_uploaded_in_chunks_names_each_range(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    data = bytes(range(256)) * 40
    digest = upload(api, "team/app", data, size=4096)
    assert registry.blobs[digest] == data
    assert len(registry.calls("PATCH")) == 3  # 4096 + 4096 + 2048
    assert registry.uploads == {}  # the session was closed


def test_a_blob_is_mounted_from_another_repository_without_copying(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    digest = upload(api, "team/base", b"shared base layer")
    assert api.mount_blob("team/app", digest, "team/base") is True
    assert api.blob_size("team/app", digest) == len(b"shared base layer")
    # Not held by the source: the registry opens an upload instead, which is cancelled.
    missing = sha256_digest(b"nowhere")
    assert api.mount_blob("team/app", missing, "team/base") is False
    assert registry.uploads == {}


def test_a_corrupt_blob_is_refused_on_read(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    digest = upload(api, "team/app", b"good")
    registry.blobs[digest] = b"evil"
    with pytest.raises(RegistryError, match="is corrupt"):
        api.get_blob("team/app", digest)


def test_a_failed_chunk_starts_the_upload_over(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST, note=lambda _: None)
    registry.fail("PATCH", "/blobs/uploads/", status=503)
    data = b"x" * 10_000
    digest = upload(api, "team/app", data, size=4096)
    assert registry.blobs[digest] == data
    assert len(registry.calls("POST", "/blobs/uploads/")) == 2  # a new session, from byte 0


def test_check_push_opens_and_cancels_an_upload(registry: TestRegistry) -> None:
    RegistryAPI(registry.host, policy=FAST).check_push("team/app")
    assert registry.calls("POST", "/v2/team/app/blobs/uploads/")
    assert registry.calls("DELETE") and registry.uploads == {}


# -- manifests and tags --------------------------------------------------------------------


def test_manifests_by_tag_and_digest_keep_their_bytes(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    config, layer = upload(api, "team/app", b"{}"), upload(api, "team/app", b"layer")
    manifest = manifest_of(config, layer)
    assert api.put_manifest("team/app", "1.0.0", manifest) == manifest.digest
    assert api.digest("team/app", "1.0.0") == manifest.digest
    assert api.raw_manifest("team/app", manifest.digest) == manifest
    assert api.digest("team/app", "2.0.0") is None
    assert api.raw_manifest("team/app", "2.0.0") is None
    assert api.compressed_size("team/app", "1.0.0") == 0


def test_a_manifest_naming_a_missing_blob_is_refused_with_its_code(registry: TestRegistry) -> None:
    api = RegistryAPI(registry.host, policy=FAST)
    config = upload(api, "team/app", b"{}")
    with pytest.raises(RegistryAPIError) as refused:
        api.put_manifest("team/app", "1.0.0", manifest_of(config, sha256_digest(b"absent")))
    assert refused.value.status == 400
    assert refused.value.codes == ["MANIFEST_BLOB_UNKNOWN"]
    assert "HTTP 400 MANIFEST_BLOB_UNKNOWN: blob unknown" in str(refused.value)


def test_tags_are_read_across_pages(registry: TestRegistry) -> None:
    registry.page_size = 2
    api = RegistryAPI(registry.host, policy=FAST)
    config = upload(api, "team/app", b"{}")
    for tag in ["1.0.0", "1.1.0", "2.0.0", "latest", "sha-abc1234"]:
        api.put_manifest("team/app", tag, manifest_of(config))
    assert api.tags("team/app") == ["1.0.0", "1.1.0", "2.0.0", "latest", "sha-abc1234"]
    assert len(registry.calls("GET", "/tags/list")) == 3
    assert api.tags("team/none") == []


# -- bearer tokens -------------------------------------------------------------------------


def test_tokens_are_fetched_per_scope_and_a_mount_asks_for_both(guarded: TestRegistry) -> None:
    api = RegistryAPI(guarded.host, Credentials("user", "secret"), policy=FAST)
    digest = upload(api, "team/base", b"base")
    assert api.blob_size("team/base", digest) == 4
    assert api.mount_blob("team/app", digest, "team/base")
    assert api.blob_size("team/base", digest) == 4  # the pull token again: no new token
    assert guarded.token_scopes == [
        ["repository:team/base:pull,push"],
        ["repository:team/base:pull"],
        ["repository:team/app:pull,push", "repository:team/base:pull"],
    ]


def test_wrong_credentials_are_one_clear_line_without_the_secret(guarded: TestRegistry) -> None:
    api = RegistryAPI(guarded.host, Credentials("user", "wrong-pa55"), policy=FAST)
    with pytest.raises(RegistryAPIError) as refused:
        api.digest("team/app", "1.0.0")
    message = str(refused.value)
    assert message.startswith(f"registry {guarded.host}: could not get a token from http://")
    assert "HTTP 401 UNAUTHORIZED: bad credentials" in message
    assert "check the registry credentials" in message and "wrong-pa55" not in message


def test_anonymous_requests_get_no_token_for_a_guarded_registry(guarded: TestRegistry) -> None:
    with pytest.raises(RegistryAPIError, match="HTTP 401"):
        RegistryAPI(guarded.host, policy=FAST).tags("team/app")
