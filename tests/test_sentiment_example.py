"""The transformer example, examples/sentiment, released end to end on the local stack.

torch (with its CUDA wheels) and transformers from PyPI on python:3.11-slim, a tiny BERT
trained here and committed, real inference in the smoke test. The release is the slowest test
of the suite: 3 GB of wheels to download and install, a 5.6 GB venv to compress and push (439 s
on the 2-core CI machine with nothing of the image in the registry or the engine's cache, 445 s
for this file). Signed since the sign step: 478 s for the release, of which syft's SBOM of the
image takes about 67 s. It runs once per module and the tests read its outputs. No GPU here: the
smoke test runs the model on the CPU, and `/gpu-info` must say so.
"""

from __future__ import annotations

import filecmp
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pipeline.distribution.auth import Keychain
from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.reference import ImageRef
from tests.support.project import commit_all
from tests.test_signing import PASSWORD, attested, cosign_verifies, key_pair

if TYPE_CHECKING:
    import docker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sentiment"
TEMPLATE = ROOT / "dockerfiles" / "pytorch-pypi"
COMMON = ROOT / "dockerfiles" / "common"
# Measured on the CI machine kind (2 cores), cold registry and engine: 7.3 minutes.
SENTIMENT_RELEASE_MINUTES = 8


def test_the_example_is_the_pytorch_pypi_template() -> None:
    assert filecmp.cmp(EXAMPLE / "Dockerfile", TEMPLATE / "Dockerfile", shallow=False)
    assert filecmp.cmp(EXAMPLE / ".dockerignore", COMMON / ".dockerignore", shallow=False)
    serve = sorted(p.name for p in (COMMON / "serve").glob("*.py"))
    assert sorted(p.name for p in (EXAMPLE / "serve").glob("*.py")) == serve
    for name in serve:
        assert filecmp.cmp(EXAMPLE / "serve" / name, COMMON / "serve" / name, shallow=False), name


def test_split_puts_torch_and_transformers_in_the_base_layer() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(EXAMPLE), "split", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    base = (EXAMPLE / "requirements-base.txt").read_text().splitlines()
    app = (EXAMPLE / "requirements-app.txt").read_text().splitlines()
    assert {"torch==2.15.0", "transformers==5.24.0"} <= set(base)
    assert not [line for line in app if line.startswith(("torch", "transformers"))]


@pytest.fixture(scope="module")
def sentiment_release(stack: object, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`pipeline release --json` of the example in its own repository and image namespace."""
    import git

    project = tmp_path_factory.mktemp("sentiment") / "sentiment"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(project)], check=True)
    git.Repo.init(project, initial_branch="main")
    commit_all(project, "feat: sentiment classifier")
    namespace = f"test-sentiment-{uuid.uuid4().hex[:8]}"
    # Signed, as a release with a key configured is: the tests verify it with cosign.
    private, public = key_pair(tmp_path_factory.mktemp("keys"))
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), "release", "--json",
         "--set", f"image.name={namespace}/sentiment", "--set", "version.push_tag=false",
         "--set", f"sign.key={private}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=(SENTIMENT_RELEASE_MINUTES + 10) * 60,
        env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    smoke = json.loads((project / ".pipeline" / "smoke" / "report.json").read_text())
    return {
        "result": json.loads(result.stdout),
        "smoke": smoke,
        "namespace": namespace,
        "log": result.stderr,
        "project": project,
        "public_key": public,
    }


@pytest.mark.stack
@pytest.mark.heavy
def test_the_example_releases_with_real_inference(sentiment_release: dict) -> None:
    result, smoke = sentiment_release["result"], sentiment_release["smoke"]
    assert result["version"] == "0.1.0"
    assert "latest" in result["tags"]
    api = RegistryAPI("127.0.0.1:5000")
    assert api.digest(f"{sentiment_release['namespace']}/sentiment", "0.1.0") == result["digest"]
    status = {check["name"]: check["status"] for check in smoke["checks"]}
    # The golden probabilities (smoke/*.golden.json) came from the model on this CPU; the GPU
    # checks are skipped on an engine without the NVIDIA runtime, and the report says so.
    assert status == {
        "pull": "passed",
        "start": "passed",
        "gpu": "skipped",
        "health": "passed",
        "gpu-info": "skipped",
        "sample batch": "passed",
        "sample gpu-info": "passed",
        "sample single": "passed",
        "latency": "passed",
        "shutdown": "passed",
    }
    assert smoke["gpu"]["used"] is False


@pytest.mark.stack
@pytest.mark.heavy
def test_health_waits_for_the_warm_up_and_gpu_info_names_the_device(
    sentiment_release: dict, docker_client: docker.DockerClient
) -> None:
    namespace, digest = sentiment_release["namespace"], sentiment_release["result"]["digest"]
    image = f"127.0.0.1:5000/{namespace}/sentiment@{digest}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    container = docker_client.containers.run(
        image, detach=True, network_mode="host", environment={"PORT": str(port)}
    )
    try:
        statuses: list[int | None] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and statuses[-1:] != [200]:
            try:
                statuses.append(httpx.get(f"{url}/health", timeout=2).status_code)
            except httpx.TransportError:
                statuses.append(None)  # not listening yet
            time.sleep(0.1)
        assert statuses[-1:] == [200], container.logs()[-3000:]
        # The port opens at once; importing torch, loading and the warm-up take seconds, during
        # which /health says 503 (an orchestrator waits instead of routing traffic).
        assert 503 in statuses and set(statuses) <= {None, 503, 200}
        assert httpx.get(f"{url}/gpu-info", timeout=10).json() == {
            "cuda_available": False,
            "device_count": 0,
            "devices": [],
            "torch": "2.15.0+cu132",
            "torch_cuda": "13.2",
            "model_device": "cpu",
        }
    finally:
        container.remove(force=True)


@pytest.mark.stack
@pytest.mark.heavy
def test_an_app_dependency_is_spliced_into_the_torch_image(sentiment_release: dict) -> None:
    """After the release, one small app dependency: the app stage built alone and its layer
    put into the 3 GB image; neither torch nor the venv is installed, pulled or pushed again,
    and the model still serves (smoke)."""
    project, namespace = sentiment_release["project"], sentiment_release["namespace"]
    with (project / "requirements-app.txt").open("a") as handle:
        handle.write("python-multipart==0.0.9\n")
    commit_all(project, "feat: form uploads")
    settings = ["--set", f"image.name={namespace}/sentiment"]
    built = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), "build", "--json", *settings],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-5000:]
    report = json.loads(built.stdout)

    assert report["path"] == "patch", report["path_reason"]
    assert report["patched_layers"] == ["COPY /opt/app-deps /opt/app-deps # buildkit"]
    steps = [step["instruction"] for step in report["steps"]]
    assert not any("requirements-base.txt" in step for step in steps), steps
    smoke = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(project), "smoke", "--json", *settings,
         "--image", report["image"]],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )  # fmt: skip
    assert smoke.returncode == 0, smoke.stderr[-5000:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.stack
@pytest.mark.heavy
def test_the_signed_sbom_lists_torch_and_transformers(sentiment_release: dict) -> None:
    result, public = sentiment_release["result"], sentiment_release["public_key"]
    image = ImageRef.parse(result["candidate"])
    keychain = Keychain(lambda host: None)  # the local registry: anonymous
    cosign_verifies(keychain, image, public, "verify")
    attested(keychain, image, public, "slsaprovenance1")
    sbom = attested(keychain, image, public, "cyclonedx")
    versions = {c["name"]: c.get("version") for c in sbom["components"]}
    assert versions.get("torch") == "2.15.0"
    assert versions.get("transformers") == "5.24.0"
