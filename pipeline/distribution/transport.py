"""HTTP to one registry: its scheme, bearer tokens per scope, retries, its errors as one line.

Token auth follows the Docker registry v2 flow: a 401 with a `Bearer` challenge names the
token service; one token is fetched per set of scopes, since a pull token does not allow a
push. Transient failures (lost connections, 5xx, 429) are retried (`pipeline.core.retry`).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from pipeline.core.errors import RegistryError
from pipeline.core.retry import DEFAULT_POLICY, RetryPolicy, TransientError, retrying
from pipeline.distribution.auth import Credentials
from pipeline.distribution.errors import STORAGE_FULL, api_error

if TYPE_CHECKING:
    import requests

TIMEOUT_SECONDS = 30
# Docker Hub's API lives on another name than the one images are named with.
API_HOSTS = {"docker.io": "registry-1.docker.io"}


def pull_scope(path: str) -> str:
    return f"repository:{path}:pull"


def push_scope(path: str) -> str:
    return f"repository:{path}:pull,push"


class Transport:
    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.host = API_HOSTS.get(host, host)
        self.credentials = credentials
        self.policy = policy
        self.note = note
        self._session: requests.Session | None = None
        self._scheme = "https"
        self._tokens: dict[tuple[str, ...], str] = {}  # scopes -> bearer token

    @property
    def session(self) -> requests.Session:
        import requests

        if self._session is None:
            self._session = requests.Session()
        return self._session

    def request(
        self,
        method: str,
        url: str,
        scopes: Iterable[str],
        action: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> requests.Response:
        """`url` (a path on this registry) as `method`; 5xx and lost connections retried.

        `retry=False` for a step of a longer exchange (an upload's chunk), which only its
        caller can start over.
        """
        import requests

        key = tuple(scopes)

        def attempt() -> requests.Response:
            try:
                response = self._send(method, url, key, dict(headers or {}), body, stream)
            except requests.exceptions.Timeout as exc:
                raise TransientError(
                    f"registry {self._scheme}://{self.host}: could not {action}: no answer "
                    f"within {TIMEOUT_SECONDS} s (timed out); is the registry overloaded, or "
                    "slow to reach from here?"
                ) from exc
            except requests.exceptions.ConnectionError as exc:
                raise TransientError(
                    f"registry {self.host}: could not {action}: {_network_reason(exc)}; "
                    "is the registry up and reachable from here?"
                ) from exc
            if response.status_code == STORAGE_FULL:
                self.raise_for(response, action)
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(
                    f"registry {self.host}: could not {action}: HTTP {response.status_code}"
                )
            return response

        if not retry:
            return attempt()
        return retrying(attempt, self.policy, self.note)

    def raise_for(self, response: requests.Response, action: str) -> None:
        if not response.ok:
            raise api_error(self.host, action, response.status_code, response.content, self.redact)

    def redact(self, text: str) -> str:
        return self.credentials.redact(text) if self.credentials else text

    def _send(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str],
        body: bytes | None,
        stream: bool,
        fresh: bool = True,
    ) -> requests.Response:
        import requests

        token = self._tokens.get(scopes)
        request_headers = {**headers, "Authorization": f"Bearer {token}"} if token else headers
        try:
            response = self.session.request(
                method,
                f"{self._scheme}://{self.host}{url}",
                headers=request_headers,
                data=body,
                timeout=TIMEOUT_SECONDS,
                auth=None if token else self._basic,
                stream=stream,
            )
        except requests.exceptions.SSLError as exc:
            if not is_loopback(self.host) or self._scheme == "http":
                raise RegistryError(
                    f"registry {self.host}: TLS failed: {self.redact(first_line(exc))}; "
                    "is its certificate trusted (REQUESTS_CA_BUNDLE)?"
                ) from exc
            # Docker's own rule: a loopback registry may speak plain HTTP.
            self._scheme = "http"
            return self._send(method, url, scopes, headers, body, stream, fresh)
        except requests.exceptions.Timeout:
            raise  # a registry that is slow, not one without TLS: never a reason for plain HTTP
        except requests.exceptions.ConnectionError:
            if is_loopback(self.host) and self._scheme == "https":
                self._scheme = "http"
                return self._send(method, url, scopes, headers, body, stream, fresh)
            raise
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer") and fresh:
            # No token yet, or it expired (Docker Hub's last 300 s; a long push outlives them):
            # one new token. A second 401 is the credentials' fault, and is reported.
            response.close()
            self._tokens[scopes] = self._fetch_token(challenge, scopes)
            return self._send(method, url, scopes, headers, body, stream, fresh=False)
        return response

    @property
    def _basic(self) -> tuple[str, str] | None:
        if self.credentials:
            return (self.credentials.username, self.credentials.password)
        return None

    def _fetch_token(self, challenge: str, scopes: tuple[str, ...]) -> str:
        import requests

        params: dict[str, str | list[str]] = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = str(params.pop("realm", ""))
        # Ours, not the challenge's: a cross-repository mount needs the source's pull too.
        params["scope"] = list(scopes)
        try:
            response = self.session.get(
                realm, params=params, auth=self._basic, timeout=TIMEOUT_SECONDS
            )
        except requests.exceptions.RequestException as exc:
            raise TransientError(
                f"registry {self.host}: token service {realm} failed: "
                f"{self.redact(first_line(exc))}"
            ) from exc
        self.raise_for(response, f"get a token from {realm}")
        body = response.json()
        return body.get("token") or body["access_token"]


def path_of(url: str) -> str:
    """A URL the registry sent back, relative or absolute, as a path on this registry."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


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


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False
