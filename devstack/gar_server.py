"""A stand-in for the Artifact Registry REST API (no emulator exists): repositories only.

In memory, stdlib only, enough for `ArtifactRegistryClient(transport="rest")` pointed at it:
get/list/create/delete repositories and get operations. Errors use Google's JSON shape and
HTTP codes, so the client raises what it raises against the real REST API: NotFound (404),
Conflict (409 ALREADY_EXISTS), BadRequest (400 INVALID_ARGUMENT).

    python -m devstack.gar_server --host 127.0.0.1 --port 5002
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

REPOSITORY_TYPE = "type.googleapis.com/google.devtools.artifactregistry.v1.Repository"
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
METADATA_TYPE = "type.googleapis.com/google.devtools.artifactregistry.v1.OperationMetadata"

# The REST client may send enums as integers (`enum-encoding=int`); store names, as the API
# returns them, so plain HTTP clients see "DOCKER".
_FORMATS = {
    0: "FORMAT_UNSPECIFIED", 1: "DOCKER", 2: "MAVEN", 3: "NPM", 5: "APT", 6: "YUM",
    8: "PYTHON", 9: "KFP", 10: "GO", 11: "GENERIC", 12: "RUBY",
}  # fmt: skip
_MODES = {
    0: "MODE_UNSPECIFIED",
    1: "STANDARD_REPOSITORY",
    2: "VIRTUAL_REPOSITORY",
    3: "REMOTE_REPOSITORY",
}
_REPOSITORY_ID = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")

_PARENT = r"/v1/projects/([^/]+)/locations/([^/]+)"
_ROUTES = {
    "repository": re.compile(rf"{_PARENT}/repositories/([^/]+)"),
    "repositories": re.compile(rf"{_PARENT}/repositories"),
    "operation": re.compile(rf"{_PARENT}/operations/([^/]+)"),
}


class ApiError(Exception):
    def __init__(self, code: HTTPStatus, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": int(self.code), "message": self.message, "status": self.status}}


def _not_found(name: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"Requested entity was not found: {name}")


def _invalid(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "INVALID_ARGUMENT", message)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _enum(value: Any, names: dict[int, str], default: str) -> str:
    if isinstance(value, int):
        return names.get(value, default)
    if isinstance(value, str) and value:
        return value
    return default


class Store:
    """Repositories and finished operations, keyed by their full resource names."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.repositories: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            repo = self.repositories.get(name)
        if repo is None:
            raise _not_found(name)
        return repo

    def list(self, parent: str) -> list[dict[str, Any]]:
        prefix = f"{parent}/repositories/"
        with self._lock:
            items = sorted(self.repositories.items())
        return [repo for name, repo in items if name.startswith(prefix)]

    def create(
        self, project: str, location: str, repo_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if not _REPOSITORY_ID.fullmatch(repo_id):
            raise _invalid(
                f"Invalid repository id {repo_id!r}: lowercase letters, digits and hyphens, "
                "starting with a letter, at most 63 characters"
            )
        parent = f"projects/{project}/locations/{location}"
        name = f"{parent}/repositories/{repo_id}"
        now = _now()
        repo_format = _enum(body.get("format"), _FORMATS, "FORMAT_UNSPECIFIED")
        repo: dict[str, Any] = {
            **body,
            "name": name,
            "format": repo_format,
            "mode": _enum(body.get("mode"), _MODES, "STANDARD_REPOSITORY"),
            "createTime": now,
            "updateTime": now,
        }
        if repo_format == "DOCKER":
            repo["registryUri"] = f"{location}-docker.pkg.dev/{project}/{repo_id}"
        with self._lock:
            if name in self.repositories:
                raise ApiError(
                    HTTPStatus.CONFLICT, "ALREADY_EXISTS", f"the repository already exists: {name}"
                )
            self.repositories[name] = repo
        return self._operation(parent, {"@type": REPOSITORY_TYPE, **repo})

    def delete(self, name: str) -> dict[str, Any]:
        with self._lock:
            if self.repositories.pop(name, None) is None:
                raise _not_found(name)
        parent = name.split("/repositories/", 1)[0]
        return self._operation(parent, {"@type": EMPTY_TYPE})

    def operation(self, name: str) -> dict[str, Any]:
        with self._lock:
            op = self.operations.get(name)
        if op is None:
            raise _not_found(name)
        return op

    def _operation(self, parent: str, response: dict[str, Any]) -> dict[str, Any]:
        # Every change completes at once, so the operation is born done.
        name = f"{parent}/operations/{uuid.uuid4()}"
        now = _now()
        op = {
            "name": name,
            "metadata": {"@type": METADATA_TYPE, "createTime": now, "endTime": now},
            "done": True,
            "response": response,
        }
        with self._lock:
            self.operations[name] = op
        return op


class Handler(BaseHTTPRequestHandler):
    server: GarServer
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its session

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/")
        query = parse_qs(url.query)
        try:
            body = self._body()
            status, payload = self._route(method, path, query, body)
        except ApiError as exc:
            status, payload = exc.code, exc.body()
        self._send(status, payload)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[HTTPStatus, dict[str, Any]]:
        store = self.server.store
        if path in ("", "/healthz"):
            return HTTPStatus.OK, {"status": "ok", "service": "artifact registry stand-in"}
        if match := _ROUTES["repository"].fullmatch(path):
            name = "projects/{}/locations/{}/repositories/{}".format(*match.groups())
            if method == "GET":
                return HTTPStatus.OK, store.get(name)
            if method == "DELETE":
                return HTTPStatus.OK, store.delete(name)
        elif match := _ROUTES["repositories"].fullmatch(path):
            project, location = match.groups()
            if method == "GET":
                parent = f"projects/{project}/locations/{location}"
                return HTTPStatus.OK, {"repositories": store.list(parent)}
            if method == "POST":
                repo_id = (query.get("repositoryId") or [""])[0]
                if not repo_id:
                    raise _invalid("repositoryId is required")
                return HTTPStatus.OK, store.create(project, location, repo_id, body)
        elif match := _ROUTES["operation"].fullmatch(path):
            if method == "GET":
                name = "projects/{}/locations/{}/operations/{}".format(*match.groups())
                return HTTPStatus.OK, store.operation(name)
        else:
            raise ApiError(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no such resource: {path}")
        raise ApiError(
            HTTPStatus.NOT_IMPLEMENTED, "UNIMPLEMENTED", f"{method} {path} is not implemented"
        )

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return {}
        raw = self.rfile.read(length)
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _invalid(f"invalid JSON body: {exc}") from exc
        if not isinstance(data, dict):
            raise _invalid("the body must be a JSON object")
        return data

    def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")


class GarServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.store = Store()


def make_server(host: str = "127.0.0.1", port: int = 0) -> GarServer:
    """A server not yet serving; port 0 picks a free one (see `server.server_address`)."""
    return GarServer((host, port))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port)
    port = server.server_address[1]
    print(f"artifact registry stand-in on http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
