"""HTTP to the container, on 127.0.0.1 only: readiness polling, JSON requests, and one request
kept in flight across a SIGTERM."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline.smoke.checks import CheckError

if TYPE_CHECKING:
    import requests

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 5.0
PROBE_TIMEOUT = 5.0
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the parsed JSON; None when the body is not JSON
    text: str
    ms: float
    content_type: str = ""
    is_json: bool = False


def backoff_delays(first: float = BACKOFF_FIRST, limit: float = BACKOFF_MAX) -> Iterator[float]:
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, limit)


def wait_healthy(
    url: str,
    path: str,
    within: float,
    exit_code: Callable[[], int | None],
    sleep: Callable[[float], None] = time.sleep,
    refused: Callable[[], str | None] = lambda: None,
) -> None:
    """Poll GET `path` until it answers 200; a container that stops meanwhile fails at once,
    and so does one that `refused` (asked after each connection that got no answer) finds
    listening elsewhere."""
    import requests

    deadline = time.monotonic() + within
    last = "no answer"
    for delay in backoff_delays():
        if exit_code() is not None:
            # The caller names the exit code (and shows the logs): this only says when.
            raise CheckError(f"the app stopped before {path} answered 200")
        try:
            response = requests.get(f"{url}{path}", timeout=PROBE_TIMEOUT)
        except requests.RequestException as exc:
            last = _reason(exc)
            # Published ports answer a missing listener with a reset, not a refusal: both ask.
            elsewhere = refused()
            if elsewhere:
                raise CheckError(elsewhere) from exc
        else:
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text.strip()[:200]}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CheckError(f"{path} did not answer 200 within {within:g} s (last: {last})")
        sleep(min(delay, remaining))


def request_json(session: requests.Session, method: str, url: str, payload: Any = None) -> Reply:
    import requests

    return send(session, requests.Request(method, url, json=payload).prepare())


def send(session: requests.Session, request: requests.PreparedRequest) -> Reply:
    import requests

    started = time.perf_counter()
    try:
        response = session.send(request, timeout=REQUEST_TIMEOUT)
    except requests.RequestException as exc:
        path = urlsplit(request.url or "").path
        raise CheckError(f"{request.method} {path} failed: {_reason(exc)}") from exc
    ms = (time.perf_counter() - started) * 1000
    try:
        body, is_json = response.json(), True
    except ValueError:
        body, is_json = None, False
    return Reply(
        status=response.status_code,
        body=body,
        # An image or audio answer is no text to show.
        text=response.text if is_json or _is_text(response) else f"<{len(response.content)} bytes>",
        ms=ms,
        content_type=response.headers.get("Content-Type", ""),
        is_json=is_json,
    )


def _is_text(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "")
    return kind.startswith("text/") or "json" in kind or "xml" in kind or not kind


class InFlight:
    """A request sent from a thread. `sent` is set once the whole body is on the wire, so a
    signal sent after it finds the request in the server's hands, not still in the client's."""

    def __init__(self, request: requests.PreparedRequest, timeout: float) -> None:
        self.sent = threading.Event()
        self.status: int | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._send, args=(request, timeout), daemon=True)
        self._thread.start()

    def _send(self, request: requests.PreparedRequest, timeout: float) -> None:
        parts = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        try:
            connection.request(
                request.method or "POST",
                request.path_url,
                body=body,
                headers=dict(request.headers),
            )
            self.sent.set()
            response = connection.getresponse()
            response.read()
            self.status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.error = str(exc) or type(exc).__name__
        finally:
            self.sent.set()
            connection.close()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return self.done


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "Read timed out", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
