"""The OCI distribution API (tags, manifests, digests), spoken directly over HTTP.

The engine does pushes and pulls of layers; questions it cannot answer (which tags exist, what
digest a tag points at in the registry) and registry-side tagging (a manifest PUT under a new
tag) go here. Token auth follows the Docker registry v2 flow, one token per scope, since a
pull token does not allow a push. Transient failures are retried (`pipeline.retry`).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import RegistryError
from pipeline.registries.credentials import Credentials
from pipeline.retry import DEFAULT_POLICY, RetryPolicy, TransientError, retrying

if TYPE_CHECKING:
    import requests

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = ", ".join(
    [
        *INDEX_TYPES,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TIMEOUT_SECONDS = 30


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


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class RegistryAPI:
    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.host = "registry-1.docker.io" if host == "docker.io" else host
        self.credentials = credentials
        self.policy = policy
        self.note = note
        self._session: requests.Session | None = None
        self._scheme = "https"
        self._tokens: dict[str, str] = {}  # scope -> bearer token

    @property
    def session(self) -> requests.Session:
        import requests

        if self._session is None:
            self._session = requests.Session()
        return self._session

    def tags(self, path: str) -> list[str]:
        """Every tag of repository `path`; none when the repository does not exist yet."""
        tags: list[str] = []
        url: str | None = f"/v2/{path}/tags/list?n=1000"
        while url:
            action = f"list the tags of {self.host}/{path}"
            response = self._request("GET", url, path, action)
            if response.status_code == 404:
                return []
            self._raise_for(response, action)
            tags += response.json().get("tags") or []
            url = _next_link(response.headers.get("Link", ""))
        return tags

    def digest(self, path: str, reference: str) -> str | None:
        """The digest a tag points at in the registry, or None when there is no such tag."""
        action = f"read {self._name(path, reference)}"
        response = self._request("HEAD", f"/v2/{path}/manifests/{reference}", path, action)
        if response.status_code == 404:
            return None
        self._raise_for(response, action)
        return response.headers.get("Docker-Content-Digest")

    def raw_manifest(self, path: str, reference: str) -> RawManifest | None:
        action = f"read {self._name(path, reference)}"
        response = self._request("GET", f"/v2/{path}/manifests/{reference}", path, action)
        if response.status_code == 404:
            return None
        self._raise_for(response, action)
        body = response.content
        digest = response.headers.get("Docker-Content-Digest") or _sha256(body)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return RawManifest(body, media_type or json.loads(body).get("mediaType", ""), digest)

    def manifest(self, path: str, reference: str) -> dict[str, Any] | None:
        raw = self.raw_manifest(path, reference)
        return raw.json() if raw else None

    def put_manifest(self, path: str, tag: str, manifest: RawManifest) -> str:
        """Point `tag` at `manifest` (whose blobs the repository holds); returns the digest."""
        action = f"tag {self._name(path, tag)}"
        response = self._request(
            "PUT",
            f"/v2/{path}/manifests/{tag}",
            path,
            action,
            body=manifest.body,
            content_type=manifest.media_type,
        )
        self._raise_for(response, action)
        return response.headers.get("Docker-Content-Digest") or manifest.digest

    def check_push(self, path: str) -> None:
        """Raises unless we may push to `path`: as a push starts, an upload session is opened
        (with push rights, which no read proves), then cancelled at once; nothing is written."""
        action = f"start a push to {self.host}/{path}"
        response = self._request("POST", f"/v2/{path}/blobs/uploads/", path, action)
        self._raise_for(response, action)
        location = response.headers.get("Location")
        if location:
            # Registries expire abandoned uploads anyway: a failed cancel is no failure.
            with contextlib.suppress(RegistryError):
                self._request("DELETE", _path_of(location), path, f"cancel the {action}")

    def compressed_size(self, path: str, reference: str) -> int | None:
        """Bytes the registry stores for an image's layers (what a pull transfers)."""
        manifest = self.manifest(path, reference)
        if manifest is None:
            return None
        if "manifests" in manifest:  # an index: take the linux/amd64 (or first) image
            chosen = next(
                (
                    m
                    for m in manifest["manifests"]
                    if m.get("platform", {}).get("architecture") == "amd64"
                ),
                manifest["manifests"][0],
            )
            return self.compressed_size(path, chosen["digest"])
        return sum(layer.get("size", 0) for layer in manifest.get("layers", []))

    def _name(self, path: str, reference: str) -> str:
        separator = "@" if reference.startswith("sha256:") else ":"
        return f"{self.host}/{path}{separator}{reference}"

    def _url(self, url: str) -> str:
        return f"{self._scheme}://{self.host}{url}"

    def _request(
        self,
        method: str,
        url: str,
        path: str,
        action: str,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> requests.Response:
        import requests

        scope = f"repository:{path}:" + ("pull" if method in ("GET", "HEAD") else "pull,push")
        headers = {"Accept": MANIFEST_TYPES}
        if content_type:
            headers["Content-Type"] = content_type

        def attempt() -> requests.Response:
            try:
                response = self._send(method, url, scope, headers, body)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                raise TransientError(
                    f"registry {self.host}: could not {action}: {_network_reason(exc)}; "
                    "is the registry up and reachable from here?"
                ) from exc
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(
                    f"registry {self.host}: could not {action}: HTTP {response.status_code}"
                )
            return response

        return retrying(attempt, self.policy, self.note)

    def _send(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str],
        body: bytes | None,
        fresh: bool = True,
    ) -> requests.Response:
        import requests

        token = self._tokens.get(scope)
        request_headers = {**headers, "Authorization": f"Bearer {token}"} if token else headers
        try:
            response = self.session.request(
                method,
                self._url(url),
                headers=request_headers,
                data=body,
                timeout=TIMEOUT_SECONDS,
                auth=None if token else self._basic,
            )
        except requests.exceptions.SSLError as exc:
            if not _is_loopback(self.host) or self._scheme == "http":
                raise RegistryError(
                    f"registry {self.host}: TLS failed: {self._redact(first_line(exc))}; "
                    "is its certificate trusted (REQUESTS_CA_BUNDLE)?"
                ) from exc
            # Docker's own rule: a loopback registry may speak plain HTTP.
            self._scheme = "http"
            return self._send(method, url, scope, headers, body, fresh)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
            if _is_loopback(self.host) and self._scheme == "https":
                self._scheme = "http"
                return self._send(method, url, scope, headers, body, fresh)
            raise
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer") and fresh:
            # No token yet, or it expired (Docker Hub's last 300 s; a long push outlives them):
            # one new token. A second 401 is the credentials' fault, and is reported.
            self._tokens[scope] = self._fetch_token(challenge, scope)
            return self._send(method, url, scope, headers, body, fresh=False)
        return response

    @property
    def _basic(self) -> tuple[str, str] | None:
        if self.credentials:
            return (self.credentials.username, self.credentials.password)
        return None

    def _fetch_token(self, challenge: str, scope: str) -> str:
        import requests

        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        params.setdefault("scope", scope)
        try:
            response = self.session.get(
                realm, params=params, auth=self._basic, timeout=TIMEOUT_SECONDS
            )
        except requests.exceptions.RequestException as exc:
            raise TransientError(
                f"registry {self.host}: token service {realm} failed: "
                f"{self._redact(first_line(exc))}"
            ) from exc
        self._raise_for(response, f"get a token from {realm}")
        body = response.json()
        return body.get("token") or body["access_token"]

    def _redact(self, text: str) -> str:
        return self.credentials.redact(text) if self.credentials else text

    def _raise_for(self, response: requests.Response, action: str) -> None:
        if response.ok:
            return
        detail = response.text.strip().splitlines()[0] if response.text.strip() else ""
        message = f"registry {self.host}: could not {action}: HTTP {response.status_code}"
        if detail:
            message += f" {self._redact(detail)}"
        if response.status_code in (401, 403):
            message += "; check the registry credentials and that they may push and pull here"
        raise RegistryError(message)


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _next_link(header: str) -> str | None:
    """The path of the next page; registries may send it relative or as an absolute URL."""
    match = re.search(r"<([^>]+)>;\s*rel=\"next\"", header)
    return _path_of(match.group(1)) if match else None


def _path_of(url: str) -> str:
    """A URL the registry sent back, relative or absolute, as a path on this registry."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


def _network_reason(exc: BaseException) -> str:
    """The cause in a few words; requests' own text is a nest of wrapped exceptions."""
    text = str(exc)
    for reason in (
        "Connection refused",
        "Connection reset by peer",
        "Name or service not known",
        "Temporary failure in name resolution",
        "Remote end closed connection",
        "timed out",
    ):
        if reason.lower() in text.lower():
            return reason.lower()
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
