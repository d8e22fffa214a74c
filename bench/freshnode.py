"""Fresh-node benchmark: a node with nothing cached pulls the released image and serves it.

    .venv/bin/python bench/freshnode.py [--examples churn,sentiment] [--compressions gzip,zstd]
                                        [--runs 3] [--json FILE]

Needs the local stack (`scripts/setup`): Docker 26 with buildx and the containerd image store,
the registry on 127.0.0.1:5000. What a GPU smoke runner and every autoscaled serving node pays
before its first answer. Each example is built and pushed once per compression
(`pipeline build --set build.compression=...`, on a wiped engine, into a repository of its own,
so the build is cold: its time and the image's compressed size are reported too); then, for
each run, the compressions taking turns: the engine is wiped as the rebuild benchmark wipes it
(every image, all build cache, the image store's leases and content), and the clock runs over
  pull     `docker pull IMAGE@DIGEST`: download and unpack (the containerd store unpacks as it
           pulls)
  healthy  `docker run` on the host network to the first 200 from the app's health route
  predict  the first POST /predict of the example's smoke/single.json
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import docker

# rebuild (beside this file) puts the checkout on the path: tests.support comes after it.
from rebuild import EXAMPLES, REPO_ROOT, WEIGHTS, compressed_size, new_project, sh

from tests.support.engine import wipe_local_images

COMPRESSIONS = ("gzip", "zstd")
HEALTH_TIMEOUT = 600.0


@dataclass
class Built:
    example: str
    compression: str
    image: str  # repository@digest
    build_seconds: float
    compressed_size: int


@dataclass
class Run:
    example: str
    compression: str
    run: int
    pull: float
    healthy: float
    predict: float

    @property
    def total(self) -> float:
        return self.pull + self.healthy + self.predict


def build(work: Path, namespace: str, example: str, compression: str) -> Built:
    project = new_project(work, namespace, example, compression)
    started = time.monotonic()
    report = json.loads(
        sh(sys.executable, "-m", "pipeline", "build", "--json", "-C", str(project),
           "--set", f"build.compression={compression}").stdout
    )  # fmt: skip
    seconds = time.monotonic() - started
    repository = report["image"].rpartition(":")[0]
    size = compressed_size(repository, report["digest"])
    return Built(example, compression, f"{repository}@{report['digest']}", seconds, size)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_once(built: Built, run: int) -> Run:
    """Pull, start, wait for health, one prediction: the three times, on a wiped engine."""
    started = time.monotonic()
    sh("docker", "pull", "--quiet", built.image)
    pulled = time.monotonic()
    port = free_port()
    container = sh("docker", "run", "-d", "--network", "host", "-e", f"PORT={port}",
                   built.image).stdout.strip()  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", container)
        healthy = time.monotonic()
        payload = (EXAMPLES / built.example / "smoke" / "single.json").read_bytes()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=payload,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            answer.read()
        predicted = time.monotonic()
    finally:
        sh("docker", "rm", "-f", container)
    return Run(
        built.example, built.compression, run, pulled - started, healthy - pulled,
        predicted - healthy,
    )  # fmt: skip


def _wait_healthy(url: str, container: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    logs = sh("docker", "logs", "--tail", "20", container)
    sys.exit(f"bench: {url} not healthy in {HEALTH_TIMEOUT:.0f} s:\n{logs.stdout}{logs.stderr}")


def print_table(builds: list[Built], runs: list[Run]) -> None:
    """Medians over the runs, and each run's total."""
    print(f"{'example':<9} {'compression':<11} {'build s':>8} {'image MB':>9} {'pull s':>7} "
          f"{'healthy s':>9} {'predict s':>9} {'total s':>8}   runs (total s)")  # fmt: skip

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    for built in builds:
        key = (built.example, built.compression)
        mine = [r for r in runs if (r.example, r.compression) == key]

        totals = ", ".join(f"{r.total:.1f}" for r in mine)
        print(f"{built.example:<9} {built.compression:<11} {built.build_seconds:8.1f} "
              f"{built.compressed_size / 1e6:9.1f} {median([r.pull for r in mine]):7.2f} "
              f"{median([r.healthy for r in mine]):9.2f} {median([r.predict for r in mine]):9.3f} "
              f"{median([r.total for r in mine]):8.2f}   {totals}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench/results/freshnode.json")
    parser.add_argument("--examples", default=",".join(WEIGHTS), type=lambda t: t.split(","))
    parser.add_argument(
        "--compressions", default=",".join(COMPRESSIONS), type=lambda t: t.split(",")
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if set(args.examples) - set(WEIGHTS) or set(args.compressions) - set(COMPRESSIONS):
        parser.error(f"examples: some of {', '.join(WEIGHTS)}; compressions: gzip, zstd")
    # A torch image's layers take minutes to push: the SDK's default 60 s would cut them off.
    client = docker.from_env(timeout=1800)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    builds: list[Built] = []
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-freshnode-") as scratch:
        for example in args.examples:
            for compression in args.compressions:
                wipe_local_images(client)
                builds.append(build(Path(scratch), namespace, example, compression))
                print(f"  built {builds[-1]}", file=sys.stderr)
    for run in range(1, args.runs + 1):
        for built in builds:
            wipe_local_images(client)
            runs.append(serve_once(built, run))
            print(f"  {runs[-1]} total {runs[-1].total:.2f}s", file=sys.stderr)
    print_table(builds, runs)
    engine = client.version().get("Version")
    result = {
        "namespace": namespace,
        "engine": engine,
        "builds": [asdict(b) for b in builds],
        "runs": [{**asdict(r), "total": r.total} for r in runs],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
