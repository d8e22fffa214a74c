"""A batch request gets exactly one prediction per instance. Engine-free: the smoke test's
sample check against the fake model server (tests/data/smoke/fake_server.py) run as a local
process on 127.0.0.1, as it runs inside the test images.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline.smoke.http import send, wait_healthy
from pipeline.smoke.samples import answer_problem, load_samples

REPO_ROOT = Path(__file__).resolve().parent.parent
FAKE_SERVER = REPO_ROOT / "tests" / "data" / "smoke" / "fake_server.py"
EXAMPLE_SAMPLES = REPO_ROOT / "examples" / "churn" / "smoke"
ONE_SAMPLE = REPO_ROOT / "tests" / "data" / "smoke" / "samples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["ok", "one-prediction"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    port = free_port()
    env = {**os.environ, "FAKE_MODE": request.param, "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, str(FAKE_SERVER)], env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, "/health", 20, process.poll)
        yield request.param, url
    finally:
        process.terminate()
        process.wait(10)


def test_a_batch_gets_one_prediction_per_instance(server: tuple[str, str], tmp_path: Path) -> None:
    mode, url = server
    for name in ("batch.json", "batch.expected.json"):
        shutil.copy(EXAMPLE_SAMPLES / name, tmp_path / name)
    for name in ("one.json", "one.expected.json"):
        shutil.copy(ONE_SAMPLE / name, tmp_path / name)
    problems = {}
    with requests.Session() as session:
        for sample in load_samples(tmp_path):
            reply = send(session, sample.request.prepare(url))
            assert reply.status == 200
            problems[sample.name] = answer_problem(sample, reply, tolerance=1e-6)
    if mode == "ok":
        assert problems == {"batch": None, "one": None}
    else:
        assert problems == {
            "batch": "batch.json sends 3 instance(s) but the answer has 1 prediction(s); "
            "a batch gets one prediction per instance",
            "one": None,  # a single instance, one prediction: right
        }
