"""The engine layer without an engine: `docker info` as the engine reports it, and pushes and
pulls against a Docker Engine API on a unix socket that answers from a script (the real docker
SDK talks to it), so failures are sorted into retried and final the way a real engine words them.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.core.errors import RegistryError, UserError
from pipeline.core.retry import RetryPolicy
from pipeline.distribution.auth import Credentials
from pipeline.engine.client import CONTAINERD_STORE, docker_client, store_of
from pipeline.engine.transfer import pull, push

DIGEST = "sha256:" + "ab" * 32
QUICK = RetryPolicy(retries=2, first_delay=0.001, max_delay=0.001)
# An engine's answer to one push or pull: progress messages, or an HTTP status and message.
Answer = list[dict[str, Any]] | tuple[int, str]


def test_the_containerd_store_is_named_by_its_driver_type() -> None:
    # What Docker 26 with the containerd snapshotter reports (Driver is the snapshotter).
    info = {"Driver": "overlayfs", "DriverStatus": [["driver-type", CONTAINERD_STORE]]}
    assert store_of(info) == CONTAINERD_STORE


def test_a_graph_driver_is_named_by_its_name() -> None:
    info = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}
    assert store_of(info) == "overlay2"
    assert store_of({}) == "unknown"


@dataclass
class ScriptedEngine:
    answers: list[Answer] = field(default_factory=list)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the SDK reads a push's progress as a chunked stream
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a unix socket's client address is "", which the default log line indexes

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.endswith("/version"):
            self._send(200, json.dumps({"ApiVersion": "1.45", "Version": "26.1.5"}).encode())
        else:  # /_ping
            self._send(200, b"OK")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        split = urlsplit(self.path)
        self.server.engine.requests.append((split.path.split("/", 2)[2], parse_qs(split.query)))
        answer = self.server.engine.answers.pop(0)
        if isinstance(answer, tuple):
            status, message = answer
            self._send(status, json.dumps({"message": message}).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for message in answer:
            data = json.dumps(message).encode() + b"\r\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: ScriptedEngine


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedEngine]:
    """The scripted engine as DOCKER_HOST; the pipeline's cached client is one for it alone."""
    # Not under tmp_path: a unix socket's path has at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="engine-") as folder:
        path = Path(folder) / "docker.sock"
        server = _Server(str(path), _Handler)
        server.engine = ScriptedEngine()
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        docker_client.cache_clear()
        try:
            yield server.engine
        finally:
            docker_client.cache_clear()
            server.shutdown()
            server.server_close()


def pushing(total: int, layer: str) -> dict[str, Any]:
    return {"status": "Pushing", "id": layer, "progressDetail": {"current": 1, "total": total}}


def test_a_push_reports_its_digest_and_the_bytes_it_sent(engine: ScriptedEngine) -> None:
    engine.answers = [
        # The containerd image store: the digest is only in the closing status line.
        [pushing(100, "a"), pushing(100, "a"), pushing(50, "b"), {"status": "Layer already exists",
         "id": "c"}, {"status": f"1.0.0: digest: {DIGEST} size: 1234"}],
        # A graph driver (overlay2): the digest comes as `aux`.
        [{"status": "Pushed", "id": "a"}, {"aux": {"Tag": "1.0.0", "Digest": DIGEST}}],
    ]  # fmt: skip
    pushed = push("127.0.0.1:5000/team/churn:1.0.0", None)
    assert (pushed.digest, pushed.bytes_sent) == (DIGEST, 150)
    assert push("127.0.0.1:5000/team/churn:1.0.0", None).digest == DIGEST
    assert engine.requests[0] == ("images/127.0.0.1:5000/team/churn/push", {"tag": ["1.0.0"]})


def test_a_push_without_a_digest_is_an_error(engine: ScriptedEngine) -> None:
    engine.answers = [[{"status": "The push refers to repository [x]"}]]
    with pytest.raises(RegistryError, match="reported no digest"):
        push("127.0.0.1:5000/team/churn:1.0.0", None)


def test_a_failure_that_may_pass_is_retried_and_one_that_will_not_is_final(
    engine: ScriptedEngine,
) -> None:
    unavailable = [{"error": "received unexpected HTTP status: 503 Service Unavailable"}]
    engine.answers = [unavailable, unavailable, [{"aux": {"Digest": DIGEST}}]]
    notes: list[str] = []
    assert push("127.0.0.1:5000/team/churn:1.0.0", None, QUICK, notes.append).digest == DIGEST
    assert len(engine.requests) == 3 and len(notes) == 2
    assert notes[0].startswith("push of 127.0.0.1:5000/team/churn:1.0.0 failed: received")

    engine.requests.clear()
    engine.answers = [[{"error": "unauthorized: authentication required"}]]
    with pytest.raises(RegistryError, match="check the registry credentials") as raised:
        push("127.0.0.1:5000/team/churn:1.0.0", None, QUICK)
    assert "gave up" not in str(raised.value) and len(engine.requests) == 1

    engine.answers = [(500, "Get http://127.0.0.1:5000/v2/: connection refused")] * 3
    with pytest.raises(RegistryError, match=r"is the registry reachable.*gave up after 3 tries"):
        push("127.0.0.1:5000/team/churn:1.0.0", None, QUICK)


def test_the_password_never_reaches_the_message(engine: ScriptedEngine) -> None:
    login = Credentials("me", "pa55-w0rd-xyz", registry="hub.example")
    engine.answers = [[{"error": "denied: requested access with pa55-w0rd-xyz is denied"}]]
    with pytest.raises(RegistryError) as raised:
        push("hub.example/me/churn:1.0.0", login, QUICK)
    assert "pa55-w0rd-xyz" not in str(raised.value) and "with *** is denied" in str(raised.value)


def test_a_pull_of_an_image_the_registry_lacks_says_to_build_it(engine: ScriptedEngine) -> None:
    engine.answers = [(404, "manifest for 127.0.0.1:5000/team/churn:sha-1 not found")]
    with pytest.raises(RegistryError, match=r"is not in the registry 127\.0\.0\.1:5000 .*build"):
        pull("127.0.0.1:5000/team/churn:sha-1", None, QUICK)
    engine.answers = [[{"status": "Pulling fs layer", "id": "a"}, {"status": "Downloaded"}]]
    pull(f"127.0.0.1:5000/team/churn@{DIGEST}", None)
    assert engine.requests[-1] == (
        "images/create",
        {"fromImage": ["127.0.0.1:5000/team/churn"], "tag": [DIGEST]},
    )


def test_a_reference_without_a_tag_or_digest_is_refused(engine: ScriptedEngine) -> None:
    with pytest.raises(RegistryError, match="name a tag or a digest"):
        push("127.0.0.1:5000/team/churn", None)
    assert engine.requests == []


def test_no_engine_is_a_user_error_naming_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    docker_client.cache_clear()
    with pytest.raises(UserError, match=rf"Docker engine at unix://{tmp_path}/absent\.sock: no "):
        docker_client()
