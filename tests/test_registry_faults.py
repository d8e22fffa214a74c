"""A registry that misbehaves the way real ones do: out of space, slow behind TLS.

Engine-free: real HTTP(S) servers on loopback sockets, the way a registry answers, and the
pipeline's own registry client against them.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from pipeline.core.errors import RegistryError
from pipeline.core.retry import RetryPolicy
from pipeline.distribution import transport
from pipeline.distribution.client import RegistryAPI


class _OutOfSpace(http.server.BaseHTTPRequestHandler):
    """A registry whose disk is full: reads work, every upload gets 507."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        self._answer(200, b"{}")

    def do_POST(self) -> None:
        self.requests.append(f"POST {self.path}")
        body = b'{"errors": [{"code": "UNKNOWN", "message": "no space left on device"}]}'
        self._answer(507, body)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def full_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OutOfSpace)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _OutOfSpace.requests = []
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_registry_out_of_space_is_named_and_not_retried(full_registry: str) -> None:
    api = RegistryAPI(full_registry, policy=RetryPolicy(retries=3, first_delay=0.01))
    with pytest.raises(RegistryError) as caught:
        api.check_push("team/model")
    message = str(caught.value)
    assert message.startswith(f"registry {full_registry}: could not ")
    assert "HTTP 507" in message
    assert "the registry's storage is full" in message and "garbage collection" in message
    assert "gave up" not in message  # not retried: waiting frees no space
    assert len([r for r in _OutOfSpace.requests if r.startswith("POST")]) == 1


@pytest.fixture
def slow_tls_registry(tmp_path: Path) -> Iterator[tuple[str, list[str], str]]:
    """A TLS registry that takes the request and answers long after the client's timeout; what
    each connection sent first is recorded (TLS, or plain HTTP)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    new = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    where = ["-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1"]
    subprocess.run([*new, *where, "-addext", "subjectAltName=IP:127.0.0.1"], check=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            first = client.recv(1, socket.MSG_PEEK)
            seen.append("tls" if first == b"\x16" else "plain")
            try:
                wrapped = context.wrap_socket(client, server_side=True)
                wrapped.recv(65536)
                stop.wait(5)  # the answer a slow registry gives: none in time
                wrapped.close()
            except (ssl.SSLError, OSError):
                client.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}", seen, str(cert)
    stop.set()
    thread.join(10)
    listener.close()


def test_a_slow_tls_registry_is_reported_as_a_timeout_not_a_plain_http_fallback(
    slow_tls_registry: tuple[str, list[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, seen, ca = slow_tls_registry
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", 1)
    api = RegistryAPI(host, policy=RetryPolicy(retries=0))
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        api.tags("team/model")
    message = str(caught.value)
    assert message.startswith(f"registry https://{host}: could not ")
    assert "no answer within 1 s (timed out)" in message
    assert "reset" not in message
    assert seen == ["tls"]  # one TLS try: no plain HTTP sent to a TLS port
    assert time.monotonic() - started < 5
