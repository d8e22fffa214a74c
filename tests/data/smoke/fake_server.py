"""A stand-in model server, stdlib only, that misbehaves the way FAKE_MODE says.

ok              /health 200, /predict in the reference app's shape, SIGTERM drains and exits 0
exit-on-start   exits 3 before listening
never-healthy   /health answers 503 for ever
predict-500     /predict answers 500
wrong-shape     /predict answers a number where the label's string belongs
one-prediction  /predict answers one prediction however many instances it was sent
ignore-sigterm  as ok, but SIGTERM is ignored (the PID 1 default without a handler)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODE = os.environ.get("FAKE_MODE", "ok")
SECONDS_PER_INSTANCE = 0.0002  # a big batch stays in flight long enough to overlap a SIGTERM


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            healthy = MODE != "never-healthy"
            self._send(200 if healthy else 503, {"status": "ok" if healthy else "loading"})
        elif self.path == "/gpu-info":
            self._send(200, {"cuda_available": False})
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        instances = body["instances"]
        count = 1 if isinstance(instances, dict) else len(instances)
        if MODE == "predict-500":
            self._send(500, {"detail": "model exploded"})
            return
        time.sleep(SECONDS_PER_INSTANCE * count)
        if MODE == "wrong-shape":
            prediction: dict[str, Any] = {"label": 1, "probability": "high", "confident": True}
        else:
            prediction = {"label": "churn", "probability": 0.75, "confident": True}
        answered = 1 if MODE == "one-prediction" else count
        self._send(200, {"predictions": [prediction] * answered, "model_version": "0.0.1"})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the requests in flight


def main() -> int:
    if MODE == "exit-on-start":
        print("fake: cannot load the model", file=sys.stderr)
        return 3
    address = (os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080")))
    server = Server(address, Handler)
    stop = threading.Event()
    if MODE == "ignore-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"fake: serving on {address[0]}:{address[1]} ({MODE})", file=sys.stderr, flush=True)
    while not stop.wait(0.1):
        pass
    server.shutdown()
    server.server_close()
    print("fake: drained, exiting", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
