"""Compression benchmark: what a cold build's layer compression costs, level by level.

    .venv/bin/python bench/compression.py [--examples churn,sentiment] [--levels default,1,5,9]
                                          [--runs 1] [--json FILE]

Needs the local stack (`scripts/setup`). Each example's Dockerfile is built cold (on a wiped
runner, as the rebuild benchmark wipes it) with `docker buildx build` and pushed to a repository
of its own, once per gzip level (`default` is BuildKit's own: buildx passes no level), the levels
taking turns run after run. The output is what `pipeline build` writes for a candidate that
nothing runs on the build's engine (`type=image,push=,store=false,compression=gzip,
compression-level=N,force-compression=true`): the build, the compression and the push, with no
unpacking into the engine. Reported: the whole build, BuildKit's own "exporting layers" (the
compression of the layers the build made; the base image's are reused as they are), and the
image's compressed size in the registry.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker

# rebuild (beside this file) puts the checkout on the path: tests.support comes after it.
from rebuild import EXAMPLES, REGISTRY, REPO_ROOT, WEIGHTS, compressed_size

from pipeline.imagebuild.steps import RawJsonProgress, timestamp
from tests.support.engine import wipe_local_images

EXPORTING = "exporting layers"


@dataclass
class Build:
    example: str
    level: str
    run: int
    seconds: float
    exporting: float
    compressed_size: int


class _StatusTimes(RawJsonProgress):
    """buildx's `--progress rawjson` stream as the build step reads it, and the statuses
    (BuildKit's own work, such as "exporting layers") that the build step has no use for."""

    def __init__(self) -> None:
        super().__init__("")
        self.statuses: dict[str, dict[str, Any]] = {}

    def feed(self, status: dict[str, Any]) -> None:
        super().feed(status)
        for entry in status.get("statuses") or []:
            self.statuses.setdefault(entry.get("id", ""), {}).update(
                {key: entry[key] for key in ("started", "completed") if entry.get(key)}
            )


def status_seconds(rawjson: str, name: str) -> float:
    """How long BuildKit's status `name` took, from its `--progress rawjson` stream."""
    progress = _StatusTimes()
    for line in rawjson.splitlines(keepends=True):
        progress.feed_line(line)
    times = progress.statuses.get(name, {})
    if not ("started" in times and "completed" in times):
        sys.exit(f"bench: no {name!r} in buildx's progress")
    return (timestamp(times["completed"]) - timestamp(times["started"])).total_seconds()


def build(example: str, level: str, run: int, namespace: str) -> Build:
    repository = f"{REGISTRY}/{namespace}/{example}-{level}"
    options = "compression=gzip" + ("" if level == "default" else f",compression-level={level}")
    command = ["docker", "buildx", "build", "--progress", "rawjson", "--network", "host",
               "--provenance=false", "-t", f"{repository}:{run}",
               f"--output=type=image,push=,store=false,{options},force-compression=true",
               str(EXAMPLES / example)]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    size = compressed_size(repository, str(run))
    return Build(example, level, run, seconds, status_seconds(done.stderr, EXPORTING), size)


def print_table(builds: list[Build], examples: list[str], levels: list[str]) -> None:
    print(f"{'example':<9} {'gzip level':<10} {'build s':>8} {'exporting s':>11} "
          f"{'image MB':>9} {'vs default':>10}   runs (build s)")  # fmt: skip
    for example in examples:
        mine = [b for b in builds if b.example == example]
        default = statistics.median(b.compressed_size for b in mine if b.level == "default")
        for level in levels:
            runs = [b for b in mine if b.level == level]
            size = statistics.median(b.compressed_size for b in runs)
            print(f"{example:<9} {level:<10} {statistics.median(b.seconds for b in runs):8.1f} "
                  f"{statistics.median(b.exporting for b in runs):11.1f} {size / 1e6:9.1f} "
                  f"{(size / default - 1) * 100:+9.2f}%   "
                  f"{', '.join(f'{b.seconds:.1f}' for b in runs)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench/results/compression.json")
    parser.add_argument("--examples", default="churn", type=lambda text: text.split(","))
    parser.add_argument(
        "--levels",
        default="default,1,3,4,5,9",
        type=lambda text: text.split(","),
        help="gzip levels, comma-separated, `default` among them: BuildKit's own (default: "
        "default,1,3,4,5,9)",
    )
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    unknown = sorted(set(args.examples) - set(WEIGHTS))
    if unknown:
        parser.error(f"no such example: {', '.join(unknown)} (known: {', '.join(WEIGHTS)})")
    if "default" not in args.levels or not all(
        level == "default" or (level.isdigit() and 0 <= int(level) <= 9) for level in args.levels
    ):
        parser.error("--levels: gzip levels 0-9 and `default`, `default` among them")
    from devstack import ensure_up

    ensure_up()
    # A torch image's layers take minutes to push: the SDK's default 60 s would cut them off.
    client = docker.from_env(timeout=1800)
    namespace = f"bench-compression-{uuid.uuid4().hex[:6]}"
    builds: list[Build] = []
    for example in args.examples:
        for run in range(1, args.runs + 1):
            for level in args.levels:
                wipe_local_images(client)
                builds.append(build(example, level, run, namespace))
                print(f"  {example} level {level} run {run}: {builds[-1].seconds:.1f}s",
                      file=sys.stderr)  # fmt: skip
    print_table(builds, args.examples, args.levels)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    engine = client.version().get("Version")
    args.json.write_text(
        json.dumps({"builds": [asdict(b) for b in builds], "engine": engine}, indent=2)
    )
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
