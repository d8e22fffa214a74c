"""The reference serving app (dockerfiles/common/serve), run as a real `python -m serve` process.

Every HTTP test talks to a subprocess over 127.0.0.1 with the bundled churn example's model, the
way the container runs it; only the GPU probe is also checked in-process, with stand-in modules.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVE_PARENT = ROOT / "dockerfiles" / "common"
CHURN = ROOT / "examples" / "churn"
MODEL_DIR = CHURN / "model"
SMOKE_DIR = CHURN / "smoke"
START_TIMEOUT = 60.0
SERVE_VARIABLES = (
    "MODEL_PATH",
    "BATCH_SIZE",
    "CONFIDENCE_THRESHOLD",
    "LOG_LEVEL",
    "PORT",
    "HOST",
    "SHUTDOWN_GRACE_SECONDS",
    "SERVE_WARMUP_DELAY",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(**overrides: str) -> dict[str, str]:
    # The caller's own serving variables must not leak into the process under test.
    env = {key: value for key, value in os.environ.items() if key not in SERVE_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVE_PARENT), env.get("PYTHONPATH")]))
    env.update({"HOST": "127.0.0.1", "MODEL_PATH": str(MODEL_DIR)}, **overrides)
    return env


class Server:
    """A `python -m serve` subprocess, with its stderr collected line by line as it arrives."""

    def __init__(self, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serve"],
            env=_environment(**{"PORT": str(self.port), **env}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._lines)

    def wait_for_log(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"never logged {text!r}; stderr:\n{self.stderr}")
            time.sleep(0.02)

    def first_health_response(self) -> httpx.Response:
        """The first answer /health gives once the port accepts connections."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return httpx.get(f"{self.url}/health", timeout=5)
            except httpx.ConnectError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server never accepted connections; stderr:\n{self.stderr}")
                time.sleep(0.02)

    def wait_ready(self) -> None:
        response = self.first_health_response()
        deadline = time.monotonic() + START_TIMEOUT
        while response.status_code != 200:
            time.sleep(0.05)
            # A refused connection means the server went away: reported below with its stderr.
            with contextlib.suppress(httpx.ConnectError):
                response = httpx.get(f"{self.url}/health", timeout=5)
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"/health never became 200; stderr:\n{self.stderr}")

    def exit_code(self, timeout: float) -> int:
        returncode = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=5)


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(**env: str) -> Server:
        server = Server(**env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def ready_server() -> Iterator[Server]:
    # BATCH_SIZE=2 makes the 3-instance smoke batch run as two chunks.
    server = Server(BATCH_SIZE="2")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _payload(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((SMOKE_DIR / f"{name}.json").read_text())
    return payload


def _instance() -> dict[str, Any]:
    instance: dict[str, Any] = _payload("single")["instances"]
    return instance


def _matches_shape(value: Any, shape: Any) -> bool:
    """The smoke expected-file format documented in dockerfiles/README.md."""
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(
            key in value and _matches_shape(value[key], sub) for key, sub in shape.items()
        )
    if isinstance(shape, list):
        return (
            isinstance(value, list)
            and len(value) > 0
            and all(_matches_shape(item, shape[0]) for item in value)
        )
    checks: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "any": lambda v: True,
    }
    return checks[shape](value)


def _error_fields(response: httpx.Response) -> list[Any]:
    return [error["loc"][-1] for error in response.json()["detail"]]


def test_health_is_503_while_loading_then_200(start_server: Callable[..., Server]) -> None:
    server = start_server(SERVE_WARMUP_DELAY="3")
    first = server.first_health_response()
    assert first.status_code == 503
    assert first.json() == {"status": "loading"}
    assert httpx.post(f"{server.url}/predict", json=_payload("single")).status_code == 503
    server.wait_ready()
    health = httpx.get(f"{server.url}/health").json()
    metadata = json.loads((MODEL_DIR / "model.json").read_text())
    assert health == {
        "status": "ok",
        "model": metadata["name"],
        "model_version": metadata["version"],
        "framework": "sklearn",
    }


def test_predict_single(ready_server: Server) -> None:
    response = httpx.post(f"{ready_server.url}/predict", json=_payload("single"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert _matches_shape(body, json.loads((SMOKE_DIR / "single.expected.json").read_text()))
    (prediction,) = body["predictions"]
    # A short month-to-month customer with many support calls is the textbook churner.
    assert prediction["label"] == "churn"
    assert 0.5 <= prediction["probability"] <= 1.0
    assert prediction["confident"] is (prediction["probability"] >= 0.5)
    assert body["model_version"] == "1.0.0"


def test_predict_batch_in_chunks_matches_single_predictions(ready_server: Server) -> None:
    batch = _payload("batch")
    response = httpx.post(f"{ready_server.url}/predict", json=batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert _matches_shape(body, json.loads((SMOKE_DIR / "batch.expected.json").read_text()))
    one_by_one = [
        httpx.post(f"{ready_server.url}/predict", json={"instances": instance}).json()
        for instance in batch["instances"]
    ]
    assert body["predictions"] == [single["predictions"][0] for single in one_by_one]
    assert [p["label"] for p in body["predictions"]] == ["churn", "stay", "stay"]


@pytest.mark.parametrize(
    ("change", "field", "error_type"),
    [
        ({"tenure_months": "3"}, "tenure_months", "int_type"),
        ({"monthly_charges": "cheap"}, "monthly_charges", "float_type"),
        ({"has_internet": 1}, "has_internet", "bool_type"),
        ({"contract": "weekly"}, "contract", "literal_error"),
        ({"contract": None}, "contract", "literal_error"),
        ({"support_calls": 2.5}, "support_calls", "int_type"),
        ({"surname": "Smith"}, "surname", "extra_forbidden"),
    ],
)
def test_predict_rejects_wrong_field_with_422(
    ready_server: Server, change: dict[str, Any], field: str, error_type: str
) -> None:
    instance = {**_instance(), **change}
    response = httpx.post(f"{ready_server.url}/predict", json={"instances": [instance]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "instances", 0, field]
    assert error["type"] == error_type


def test_predict_names_missing_field_in_batch(ready_server: Server) -> None:
    incomplete = {key: value for key, value in _instance().items() if key != "contract"}
    response = httpx.post(
        f"{ready_server.url}/predict", json={"instances": [_instance(), incomplete]}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"type": "missing", "loc": ["body", "instances", 1, "contract"], "msg": "Field required"}
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"instances": [', "body"),
        (b"[]", "body"),
        (b'{"instances": []}', "instances"),
        (b'{"rows": []}', "rows"),
        # Python's json writes NaN; it is not JSON, and a model must never see it.
        (
            json.dumps({"instances": {**_instance(), "monthly_charges": math.nan}}).encode(),
            "monthly_charges",
        ),
    ],
)
def test_predict_rejects_malformed_bodies_with_422(
    ready_server: Server, body: bytes, field: str
) -> None:
    response = httpx.post(f"{ready_server.url}/predict", content=body)
    assert response.status_code == 422
    assert field in _error_fields(response)


def test_gpu_info_without_a_gpu(ready_server: Server) -> None:
    response = httpx.get(f"{ready_server.url}/gpu-info")
    assert response.status_code == 200
    assert response.json()["cuda_available"] is False
    assert response.json()["model_device"] == "cpu"


def _post_in_background(url: str, payload: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def post() -> None:
        try:
            outcome.append(httpx.post(url, json=payload, timeout=120))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, outcome


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_in_flight_request_and_exits_0(
    start_server: Callable[..., Server],
) -> None:
    # BATCH_SIZE=1 turns a big batch into thousands of chunks: a genuinely slow request, about
    # 3 s at ~1 ms a chunk, where the listener closes within milliseconds of the signal.
    instances = 3000
    server = start_server(BATCH_SIZE="1", LOG_LEVEL="debug")
    server.wait_ready()
    thread, outcome = _post_in_background(
        f"{server.url}/predict", {"instances": [_instance()] * instances}
    )
    server.wait_for_log(f"predicting {instances} instances")
    server.process.send_signal(signal.SIGTERM)

    deadline = time.monotonic() + 5
    while not _refuses_connections(server.port):
        assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        time.sleep(0.05)
    assert thread.is_alive(), "the request finished before the listener closed: make it slower"

    thread.join(timeout=120)
    (response,) = outcome
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == instances
    assert server.exit_code(timeout=30) == 0, server.stderr
    assert "Traceback" not in server.stderr


def test_sigterm_abandons_request_past_grace_period(start_server: Callable[..., Server]) -> None:
    server = start_server(BATCH_SIZE="1", LOG_LEVEL="debug", SHUTDOWN_GRACE_SECONDS="1")
    server.wait_ready()
    # Far longer than the grace period: about 15 s at ~1 ms a chunk.
    instances = 15000
    thread, outcome = _post_in_background(
        f"{server.url}/predict", {"instances": [_instance()] * instances}
    )
    server.wait_for_log(f"predicting {instances} instances")
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.exit_code(timeout=30) == 0, server.stderr
    assert time.monotonic() - signalled < 8
    assert "timeout graceful shutdown exceeded" in server.stderr
    thread.join(timeout=30)
    (result,) = outcome
    assert not (isinstance(result, httpx.Response) and result.status_code == 200)


def test_bad_environment_variables_exit_2_naming_each(
    start_server: Callable[..., Server],
) -> None:
    server = start_server(BATCH_SIZE="0", CONFIDENCE_THRESHOLD="1.5", LOG_LEVEL="loud", PORT="0")
    assert server.exit_code(timeout=30) == 2
    stderr = server.stderr
    assert "BATCH_SIZE='0'" in stderr and "integer > 0" in stderr
    assert "CONFIDENCE_THRESHOLD='1.5'" in stderr and "[0, 1]" in stderr
    assert "LOG_LEVEL='loud'" in stderr and "debug, info, warning, error" in stderr
    assert "PORT='0'" in stderr and "1..65535" in stderr
    assert "Traceback" not in stderr


def test_missing_model_path_exits_1_listing_parent(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    (tmp_path / "churn-v2").mkdir()
    (tmp_path / "notes.txt").write_text("")
    missing = tmp_path / "churn"
    server = start_server(MODEL_PATH=str(missing))
    assert server.exit_code(timeout=30) == 1
    stderr = server.stderr
    assert str(missing) in stderr
    assert f"{tmp_path} holds: churn-v2/, notes.txt" in stderr
    assert "Traceback" not in stderr


def test_unknown_framework_exits_1_naming_known_loaders(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model_dir)
    metadata = json.loads((model_dir / "model.json").read_text())
    (model_dir / "model.json").write_text(json.dumps({**metadata, "framework": "caffe"}))
    server = start_server(MODEL_PATH=str(model_dir))
    assert server.exit_code(timeout=30) == 1
    assert "framework 'caffe' has no loader (known: sklearn, transformers)" in server.stderr


@pytest.fixture
def probe_gpus(monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, Any]]:
    monkeypatch.syspath_prepend(str(SERVE_PARENT))
    from serve.gpu import probe_gpus

    return probe_gpus


def test_gpu_probe_reports_torch_devices(
    probe_gpus: Callable[[], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 2,
        get_device_name=lambda index: f"NVIDIA H100 80GB HBM3 #{index}",
    )
    torch = types.SimpleNamespace(
        cuda=cuda, __version__="2.15.0+cu132", version=types.SimpleNamespace(cuda="13.2")
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    assert probe_gpus() == {
        "cuda_available": True,
        "device_count": 2,
        "devices": ["NVIDIA H100 80GB HBM3 #0", "NVIDIA H100 80GB HBM3 #1"],
        "torch": "2.15.0+cu132",
        "torch_cuda": "13.2",
    }


def test_gpu_probe_falls_back_to_tensorflow(
    probe_gpus: Callable[[], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    gpu = types.SimpleNamespace(name="/physical_device:GPU:0", device_type="GPU")
    config = types.SimpleNamespace(list_physical_devices=lambda kind: [gpu])
    monkeypatch.setitem(sys.modules, "torch", None)  # None in sys.modules: ImportError
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(config=config))
    assert probe_gpus() == {
        "cuda_available": True,
        "device_count": 1,
        "devices": ["/physical_device:GPU:0"],
    }


def test_gpu_probe_without_frameworks(
    probe_gpus: Callable[[], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    assert probe_gpus() == {"cuda_available": False}
