"""The OCI distribution API (tags, manifests, digests), spoken directly over HTTP.

The engine does pushes and pulls; questions it cannot answer (which tags exist, what digest a
tag points at in the registry) go here. Token auth follows the Docker registry v2 flow.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from pipeline.errors import RegistryError
from pipeline.registries.credentials import Credentials

if TYPE_CHECKING:
    import requests

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TIMEOUT_SECONDS = 30


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class RegistryAPI:
    def __init__(self, host: str, credentials: Credentials | None = None) -> None:
        self.host = "registry-1.docker.io" if host == "docker.io" else host
        self.credentials = credentials
        self._session: requests.Session | None = None
        self._scheme = "https"
        self._token: str | None = None

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
            response = self._request("GET", url, path)
            if response.status_code == 404:
                return []
            self._raise_for(response, f"list the tags of {self.host}/{path}")
            tags += response.json().get("tags") or []
            url = _next_link(response.headers.get("Link", ""))
        return tags

    def digest(self, path: str, reference: str) -> str | None:
        """The digest a tag points at in the registry, or None when there is no such tag."""
        response = self._request("HEAD", f"/v2/{path}/manifests/{reference}", path)
        if response.status_code == 404:
            return None
        self._raise_for(response, f"read {self.host}/{path}:{reference}")
        return response.headers.get("Docker-Content-Digest")

    def manifest(self, path: str, reference: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/v2/{path}/manifests/{reference}", path)
        if response.status_code == 404:
            return None
        self._raise_for(response, f"read {self.host}/{path}:{reference}")
        return response.json()

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

    def _url(self, url: str) -> str:
        return f"{self._scheme}://{self.host}{url}"

    def _request(self, method: str, url: str, path: str) -> requests.Response:
        import requests

        headers = {"Accept": MANIFEST_TYPES}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self.session.request(
                method, self._url(url), headers=headers, timeout=TIMEOUT_SECONDS, auth=self._basic
            )
        except requests.exceptions.SSLError:
            if not _is_loopback(self.host) or self._scheme == "http":
                raise
            # Docker's own rule: a loopback registry may speak plain HTTP.
            self._scheme = "http"
            return self._request(method, url, path)
        except requests.exceptions.ConnectionError as exc:
            if _is_loopback(self.host) and self._scheme == "https":
                self._scheme = "http"
                return self._request(method, url, path)
            raise RegistryError(f"registry {self.host} is unreachable: {_first_line(exc)}") from exc
        if response.status_code == 401 and not self._token:
            challenge = response.headers.get("WWW-Authenticate", "")
            if challenge.lower().startswith("bearer"):
                self._token = self._fetch_token(challenge, path)
                return self._request(method, url, path)
        return response

    @property
    def _basic(self) -> tuple[str, str] | None:
        if self.credentials and not self._token:
            return (self.credentials.username, self.credentials.password)
        return None

    def _fetch_token(self, challenge: str, path: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        params.setdefault("scope", f"repository:{path}:pull")
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        response = self.session.get(realm, params=params, auth=auth, timeout=TIMEOUT_SECONDS)
        self._raise_for(response, f"get a token from {realm}")
        body = response.json()
        return body.get("token") or body["access_token"]

    def _raise_for(self, response: requests.Response, action: str) -> None:
        if response.ok:
            return
        detail = response.text.strip().splitlines()[0] if response.text.strip() else ""
        if self.credentials:
            detail = self.credentials.redact(detail)
        hint = "; check the registry credentials" if response.status_code in (401, 403) else ""
        raise RegistryError(
            f"registry {self.host}: could not {action}: HTTP {response.status_code} {detail}{hint}"
        )


def _next_link(header: str) -> str | None:
    match = re.search(r"<([^>]+)>;\s*rel=\"next\"", header)
    return match.group(1) if match else None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
