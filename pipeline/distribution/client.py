"""The operations of the distribution API on one registry: tags, manifests and blobs.

What the engine cannot answer (which tags exist, what digest a tag points at in the registry)
and what needs no engine at all (a tag put registry-side, blobs copied or mounted between
repositories) goes here. A 404 is an answer (`None`, `False`), not an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import RegistryError
from pipeline.core.retry import DEFAULT_POLICY, RetryPolicy, retrying
from pipeline.distribution import uploads
from pipeline.distribution.auth import Credentials
from pipeline.distribution.mediatypes import ACCEPT_MANIFESTS, INDEX_TYPES
from pipeline.distribution.transport import Transport, path_of, pull_scope, push_scope

CHUNK_BYTES = 8 * 1024 * 1024
ACCEPT = {"Accept": ACCEPT_MANIFESTS}


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RawManifest:
    """A manifest exactly as the registry stores it: re-sending these bytes keeps the digest."""

    body: bytes
    media_type: str
    digest: str

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def default_platform(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The entry of an index taken for one image: linux/amd64, else the first."""
    return next(
        (e for e in entries if e.get("platform", {}).get("architecture") == "amd64"), entries[0]
    )


class RegistryAPI:
    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.transport = Transport(host, credentials, policy, note)

    @property
    def host(self) -> str:
        return self.transport.host

    # -- tags and manifests --------------------------------------------------------------

    def tags(self, path: str) -> list[str]:
        """Every tag of repository `path`; none when the repository does not exist yet."""
        tags: list[str] = []
        url: str | None = f"/v2/{path}/tags/list?n=1000"
        action = f"list the tags of {self.host}/{path}"
        while url:
            response = self.transport.request("GET", url, [pull_scope(path)], action)
            if response.status_code == 404:
                return []
            self.transport.raise_for(response, action)
            tags += response.json().get("tags") or []
            url = _next_link(response.headers.get("Link", ""))
        return tags

    def digest(self, path: str, reference: str) -> str | None:
        """The digest a tag points at in the registry, or None when there is no such tag."""
        action = f"read {self._name(path, reference)}"
        response = self.transport.request(
            "HEAD", f"/v2/{path}/manifests/{reference}", [pull_scope(path)], action, headers=ACCEPT
        )
        if response.status_code == 404:
            return None
        self.transport.raise_for(response, action)
        return response.headers.get("Docker-Content-Digest")

    def raw_manifest(self, path: str, reference: str) -> RawManifest | None:
        action = f"read {self._name(path, reference)}"
        response = self.transport.request(
            "GET", f"/v2/{path}/manifests/{reference}", [pull_scope(path)], action, headers=ACCEPT
        )
        if response.status_code == 404:
            return None
        self.transport.raise_for(response, action)
        body = response.content
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"registry {self.host}: {path}@{reference} came back as {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return RawManifest(body, media_type or json.loads(body).get("mediaType", ""), digest)

    def manifest(self, path: str, reference: str) -> dict[str, Any] | None:
        raw = self.raw_manifest(path, reference)
        return raw.json() if raw else None

    def put_manifest(self, path: str, reference: str, manifest: RawManifest) -> str:
        """Store `manifest` (whose blobs the repository holds) under a tag or its digest."""
        action = f"tag {self._name(path, reference)}"
        response = self.transport.request(
            "PUT",
            f"/v2/{path}/manifests/{reference}",
            [push_scope(path)],
            action,
            body=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        self.transport.raise_for(response, action)
        return response.headers.get("Docker-Content-Digest") or manifest.digest

    def delete_manifest(self, path: str, digest: str) -> None:
        """Delete the manifest `digest` and with it every tag of `path` that points at it."""
        action = f"delete {self._name(path, digest)}"
        response = self.transport.request(
            "DELETE", f"/v2/{path}/manifests/{digest}", [f"repository:{path}:*"], action
        )
        if response.status_code != 404:  # already gone: as good
            self.transport.raise_for(response, action)

    def check_push(self, path: str) -> None:
        """Raises unless we may push to `path`: as a push starts, an upload session is opened
        (with push rights, which no read proves), then cancelled at once; nothing is written."""
        action = f"start a push to {self.host}/{path}"
        session = retrying(
            lambda: uploads.start(self.transport, path, action),
            self.transport.policy,
            self.transport.note,
        )
        uploads.cancel(self.transport, path, session, action)

    def compressed_size(self, path: str, reference: str) -> int | None:
        """Bytes the registry stores for an image's layers (what a pull transfers)."""
        manifest = self.manifest(path, reference)
        if manifest is None:
            return None
        if "manifests" in manifest:  # an index: take the linux/amd64 (or first) image
            return self.compressed_size(path, default_platform(manifest["manifests"])["digest"])
        return sum(layer.get("size", 0) for layer in manifest.get("layers", []))

    # -- blobs ---------------------------------------------------------------------------

    def blob_size(self, path: str, digest: str) -> int | None:
        """The size of blob `digest` in repository `path`; None when it does not hold it."""
        action = f"look for blob {digest[:19]} in {self.host}/{path}"
        response = self.transport.request(
            "HEAD", f"/v2/{path}/blobs/{digest}", [pull_scope(path)], action
        )
        if response.status_code == 404:
            return None
        self.transport.raise_for(response, action)
        return int(response.headers.get("Content-Length", 0))

    def blob_chunks(self, path: str, digest: str) -> Iterator[bytes]:
        """Blob `digest` as it streams in; its digest is checked once the last byte is in."""
        action = f"read blob {digest[:19]} from {self.host}/{path}"
        response = self.transport.request(
            "GET", f"/v2/{path}/blobs/{digest}", [pull_scope(path)], action, stream=True
        )
        self.transport.raise_for(response, action)
        hasher = hashlib.sha256()
        with response:
            for chunk in response.iter_content(CHUNK_BYTES):
                hasher.update(chunk)
                yield chunk
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise RegistryError(f"registry {self.host}: blob {digest} of {path} is corrupt")

    def get_blob(self, path: str, digest: str) -> bytes:
        return b"".join(self.blob_chunks(path, digest))

    def mount_blob(self, path: str, digest: str, source: str) -> bool:
        """Link blob `digest` of repository `source` (same registry) into `path`, copying
        nothing. False when the registry declines (no pull right on `source`, no such blob):
        the caller then uploads it."""
        action = f"mount {digest[:19]} from {source} into {self.host}/{path}"
        response = self.transport.request(
            "POST",
            f"/v2/{path}/blobs/uploads/?mount={digest}&from={source}",
            [push_scope(path), pull_scope(source)],
            action,
        )
        self.transport.raise_for(response, action)
        if response.status_code == 201:
            return True
        # 202: the registry opened an ordinary upload session instead.
        if location := response.headers.get("Location"):
            uploads.cancel(self.transport, path, path_of(location), action)
        return False

    def upload_blob(self, path: str, digest: str, chunks: Callable[[], Iterable[bytes]]) -> None:
        """Upload blob `digest`: one PUT when `chunks()` gives one chunk, else chunked.

        `chunks` is called again for each try, since a failed upload starts over.
        """
        retrying(
            lambda: uploads.upload(self.transport, path, digest, chunks()),
            self.transport.policy,
            self.transport.note,
        )

    def _name(self, path: str, reference: str) -> str:
        separator = "@" if reference.startswith("sha256:") else ":"
        return f"{self.host}/{path}{separator}{reference}"


def _next_link(header: str) -> str | None:
    """The path of the next page; registries may send it relative or as an absolute URL."""
    match = re.search(r"<([^>]+)>;\s*rel=\"next\"", header)
    return path_of(match.group(1)) if match else None
