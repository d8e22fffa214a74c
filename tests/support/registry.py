"""A registry in the test process: the distribution API that `pipeline.distribution` speaks.

Enough of the spec to hold the registry layer and the OCI model to it without root or the
stack: `/v2/`, tags (paged), blobs (HEAD, GET), uploads (POST, monolithic PUT, chunked PATCH
with Content-Range, cross-repository `mount=`, DELETE), manifests (GET, HEAD, PUT by tag or
digest, refused when a blob they name is missing), errors as the spec's JSON. With `users` it
asks for bearer tokens the Docker way (a `/token` service on the same server, one token per
set of scopes), and a mount needs pull on its source, as in `distribution`. `fail()` makes the
next matching requests fail, for retries. Everything it got is in `requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NAME = r"(?P<name>[a-z0-9._/-]+?)"
ROUTES = [
    ("GET", re.compile(r"/v2/?"), "base"),
    ("GET", re.compile(rf"/v2/{NAME}/tags/list"), "tags"),
    ("HEAD", re.compile(rf"/v2/{NAME}/blobs/(?P<digest>sha256:[0-9a-f]{{64}})"), "blob"),
    ("GET", re.compile(rf"/v2/{NAME}/blobs/(?P<digest>sha256:[0-9a-f]{{64}})"), "blob"),
    ("POST", re.compile(rf"/v2/{NAME}/blobs/uploads/"), "start_upload"),
    ("PATCH", re.compile(rf"/v2/{NAME}/blobs/uploads/(?P<session>[0-9a-f-]+)"), "patch_upload"),
    ("PUT", re.compile(rf"/v2/{NAME}/blobs/uploads/(?P<session>[0-9a-f-]+)"), "close_upload"),
    ("DELETE", re.compile(rf"/v2/{NAME}/blobs/uploads/(?P<session>[0-9a-f-]+)"), "cancel_upload"),
    ("HEAD", re.compile(rf"/v2/{NAME}/manifests/(?P<reference>[^/]+)"), "get_manifest"),
    ("GET", re.compile(rf"/v2/{NAME}/manifests/(?P<reference>[^/]+)"), "get_manifest"),
    ("PUT", re.compile(rf"/v2/{NAME}/manifests/(?P<reference>[^/]+)"), "put_manifest"),
]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int


@dataclass
class Upload:
    name: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class RegistryError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = Answer(
            status,
            json.dumps({"errors": [{"code": code, "message": message}]}).encode(),
            {"Content-Type": "application/json"},
        )


class TestRegistry:
    """`with TestRegistry() as registry:`; `registry.host` is `127.0.0.1:PORT` (plain HTTP)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, users: dict[str, str] | None = None, page_size: int = 100) -> None:
        self.users = users  # None: no auth at all
        self.page_size = page_size
        self.blobs: dict[str, bytes] = {}
        self.links: dict[str, set[str]] = {}  # repository -> the blobs it holds
        self.manifests: dict[str, dict[str, tuple[str, bytes]]] = {}  # repo -> ref -> (type, body)
        self.uploads: dict[str, Upload] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.token_scopes: list[list[str]] = []  # the scopes of each token issued
        self._tokens: dict[str, list[str]] = {}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> TestRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, method: str, pattern: str, status: int = 503, times: int = 1) -> None:
        """The next `times` requests `method` to a path matching `pattern` answer `status`."""
        self._faults.append(Fault(method, re.compile(pattern), status, times))

    def calls(self, method: str, pattern: str = "") -> list[str]:
        return [path for m, path in self.requests if m == method and re.search(pattern, path)]

    # -- one request ---------------------------------------------------------------------

    def answer(self, method: str, url: str, headers: Any, body: bytes) -> Answer:
        with self._lock:
            self.requests.append((method, url))
            parts = urlsplit(url)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            if parts.path == "/token":
                return self._token(headers, parse_qs(parts.query).get("scope", []))
            if fault := self._fault(method, url):
                return Answer(fault.status)
            for route_method, pattern, action in ROUTES:
                match = pattern.fullmatch(parts.path)
                if match and route_method == method:
                    try:
                        self._authorize(headers, match.groupdict().get("name"), method)
                        return getattr(self, f"_{action}")(
                            headers=headers, body=body, query=query, **match.groupdict()
                        )
                    except RegistryError as refused:
                        return refused.answer
            return Answer(404)

    def _fault(self, method: str, url: str) -> Fault | None:
        for fault in self._faults:
            if fault.times and fault.method == method and fault.pattern.search(url):
                fault.times -= 1
                return fault
        return None

    # -- auth ----------------------------------------------------------------------------

    def _token(self, headers: Any, scopes: list[str]) -> Answer:
        if self._user(headers) is None:
            return RegistryError(401, "UNAUTHORIZED", "bad credentials").answer
        token = secrets.token_hex(8)
        self._tokens[token] = scopes
        self.token_scopes.append(scopes)
        return Answer(200, json.dumps({"token": token}).encode())

    def _user(self, headers: Any) -> str | None:
        kind, _, value = (headers.get("Authorization") or "").partition(" ")
        if kind != "Basic" or self.users is None:
            return None
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user if self.users.get(user) == password else None

    def _authorize(self, headers: Any, name: str | None, method: str) -> None:
        if self.users is None or name is None:
            return
        need = {"pull"} if method in ("GET", "HEAD") else {"pull", "push"}
        if not need <= self._granted(headers, name):
            scope = f"repository:{name}:{','.join(sorted(need))}"
            challenge = f'Bearer realm="http://{self.host}/token",service="test",scope="{scope}"'
            error = RegistryError(401, "UNAUTHORIZED", "authentication required")
            error.answer.headers["WWW-Authenticate"] = challenge
            raise error

    def _granted(self, headers: Any, name: str) -> set[str]:
        """What the request's token allows on repository `name`; everything without auth."""
        if self.users is None:
            return {"pull", "push"}
        kind, _, token = (headers.get("Authorization") or "").partition(" ")
        scopes = self._tokens.get(token, []) if kind == "Bearer" else []
        prefix = f"repository:{name}:"
        return {a for s in scopes if s.startswith(prefix) for a in s[len(prefix) :].split(",")}

    # -- the API -------------------------------------------------------------------------

    def _base(self, **_: Any) -> Answer:
        return Answer(200, b"{}")

    def _tags(self, name: str, query: dict, **_: Any) -> Answer:
        if name not in self.manifests:
            raise RegistryError(404, "NAME_UNKNOWN", f"repository {name} not known")
        tags = sorted(ref for ref in self.manifests[name] if not ref.startswith("sha256:"))
        after = [tag for tag in tags if tag > query.get("last", "")]
        size = min(int(query.get("n", self.page_size)), self.page_size)
        page, more = after[:size], after[size:]
        headers = {}
        if more:
            headers["Link"] = f'</v2/{name}/tags/list?n={size}&last={page[-1]}>; rel="next"'
        return Answer(200, json.dumps({"name": name, "tags": page}).encode(), headers)

    def _blob(self, name: str, digest: str, **_: Any) -> Answer:
        if digest not in self.links.get(name, set()):
            raise RegistryError(404, "BLOB_UNKNOWN", f"blob {digest} unknown to {name}")
        data = self.blobs[digest]
        return Answer(200, data, {"Docker-Content-Digest": digest})

    def _start_upload(self, name: str, headers: Any, query: dict, **_: Any) -> Answer:
        mount, source = query.get("mount"), query.get("from")
        if (
            mount
            and source
            and mount in self.links.get(source, set())
            and "pull" in self._granted(headers, source)
        ):
            self.links.setdefault(name, set()).add(mount)
            return Answer(201, headers={"Location": f"/v2/{name}/blobs/{mount}"})
        session = str(uuid.uuid4())
        self.uploads[session] = Upload(name)
        return Answer(
            202, headers={"Location": f"/v2/{name}/blobs/uploads/{session}", "Range": "0-0"}
        )

    def _session(self, name: str, session: str) -> Upload:
        upload = self.uploads.get(session)
        if upload is None or upload.name != name:
            raise RegistryError(404, "BLOB_UPLOAD_UNKNOWN", f"upload {session} unknown")
        return upload

    def _patch_upload(self, name: str, session: str, headers: Any, body: bytes, **_: Any) -> Answer:
        upload = self._session(name, session)
        if content_range := headers.get("Content-Range"):
            start = int(content_range.split("-")[0])
            if start != len(upload.data):
                raise RegistryError(416, "BLOB_UPLOAD_INVALID", f"range {content_range}")
        upload.data += body
        return Answer(
            202,
            headers={
                "Location": f"/v2/{name}/blobs/uploads/{session}",
                "Range": f"0-{len(upload.data) - 1}",
            },
        )

    def _close_upload(self, name: str, session: str, body: bytes, query: dict, **_: Any) -> Answer:
        upload = self._session(name, session)
        data = bytes(upload.data + body)
        digest = query.get("digest", "")
        if sha256(data) != digest:
            raise RegistryError(400, "DIGEST_INVALID", f"{digest} does not match the content")
        del self.uploads[session]
        self.blobs[digest] = data
        self.links.setdefault(name, set()).add(digest)
        return Answer(
            201, headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
        )

    def _cancel_upload(self, name: str, session: str, **_: Any) -> Answer:
        self._session(name, session)
        del self.uploads[session]
        return Answer(204)

    def _get_manifest(self, name: str, reference: str, **_: Any) -> Answer:
        found = self.manifests.get(name, {}).get(reference)
        if found is None:
            raise RegistryError(404, "MANIFEST_UNKNOWN", f"manifest {reference} unknown")
        media_type, body = found
        return Answer(
            200, body, {"Content-Type": media_type, "Docker-Content-Digest": sha256(body)}
        )

    def _put_manifest(
        self, name: str, reference: str, headers: Any, body: bytes, **_: Any
    ) -> Answer:
        digest = sha256(body)
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(400, "DIGEST_INVALID", f"{reference} is not the body's digest")
        document = json.loads(body)
        named = [document.get("config", {}).get("digest"), *_digests(document, "layers")]
        missing = [d for d in named if d and d not in self.links.get(name, set())]
        children = _digests(document, "manifests")
        missing += [d for d in children if d not in self.manifests.get(name, {})]
        if missing:
            raise RegistryError(400, "MANIFEST_BLOB_UNKNOWN", f"blob unknown: {missing[0]}")
        entry = (headers.get("Content-Type") or document.get("mediaType", ""), body)
        stored = self.manifests.setdefault(name, {})
        stored[reference] = stored[digest] = entry
        return Answer(
            201,
            headers={
                "Location": f"/v2/{name}/manifests/{digest}",
                "Docker-Content-Digest": digest,
            },
        )


def _digests(document: dict[str, Any], key: str) -> Iterator[str]:
    return (entry["digest"] for entry in document.get(key) or [])


def _handler(registry: TestRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as registries and requests speak it

        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = registry.answer(self.command, self.path, self.headers, body)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            # A HEAD says how long the GET would be, and sends nothing.
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = handle_one

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
