"""Rebuild benchmark on the bundled example: this build step against what CI recipes do.

    .venv/bin/python bench/rebuild.py [--json bench/results/rebuild.json]

Needs the local stack (`scripts/setup`). Every warm case starts from a fresh-runner state: all
local images and the build cache wiped, the cache only in the registry. Cases, in one run:
  1. cold build (no cache anywhere), per backend available here
  2. rebuild after a code-only change, with `pipeline build`, per backend
  3. the same rebuild with plain `docker build --cache-from <prior tag>` (classic builder)
  4. the same rebuild of a wrong-order single-stage Dockerfile (`COPY . .` before pip install)
  5. rebuild after adding one app dependency, with `pipeline build` (default backend)
plus image sizes, waste, and the bytes the code-only rebuild adds to the registry.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker
import git

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "churn"
REGISTRY = "127.0.0.1:5000"
# What most CI recipes run: the docker CLI's own build with the classic builder.
PLAIN_CLI_ENV = {"DOCKER_BUILDKIT": "0"}
WRONG_ORDER_DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -r requirements.txt
ENV PYTHONUNBUFFERED=1 PYTHONPATH=/app MODEL_PATH=/app/model PORT=8080
CMD ["python", "-m", "serve"]
"""
NEW_APP_DEPENDENCY = "python-multipart==0.0.9"
PLAIN_BACKEND = "classic (docker CLI)"


@dataclass
class Case:
    number: int
    name: str
    backend: str
    seconds: float
    cached_steps: str = ""
    size: int = 0
    notes: list[str] = field(default_factory=list)


def sh(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def wipe(client: docker.DockerClient) -> None:
    while True:
        removed = 0
        for image in client.images.list(all=True):
            try:
                client.images.remove(image.id, force=True)
                removed += 1
            except docker.errors.APIError:
                pass  # a parent of a child removed later in this pass, or in use
        if not removed:
            break
    client.api.prune_builds(all=True)


def commit(project: Path, message: str) -> None:
    repo = git.Repo(project)
    repo.git.add(A=True)
    repo.git.commit(m=message)


def new_project(work: Path, name: str, namespace: str, builder: str) -> Path:
    project = work / name
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pipeline.yaml").write_text(
        f"project:\n  name: churn\nimage:\n  network: host\n"
        f"registry:\n  url: {REGISTRY}/{namespace}\nbuild:\n  builder: {builder}\n"
    )
    git.Repo.init(project, initial_branch="main")
    commit(project, "initial")
    return project


def change_code(project: Path, note: str) -> None:
    with (project / "serve" / "app.py").open("a") as handle:
        handle.write(f"\n# {note}\n")
    commit(project, f"fix: {note}")


def pipeline_build(project: Path) -> tuple[float, dict]:
    started = time.monotonic()
    out = sh(sys.executable, "-m", "pipeline", "build", "--json", "-C", str(project))
    return time.monotonic() - started, json.loads(out)


def cached_summary(report: dict) -> str:
    skipped = ("FROM", "ARG", "ENV", "LABEL", "USER", "EXPOSE", "HEALTHCHECK", "CMD", "VOLUME")
    layers = [s for s in report["steps"] if not s["instruction"].upper().startswith(skipped)]
    return f"{sum(s['cached'] for s in layers)}/{len(layers)}"


def plain_build(project: Path, dockerfile: str, tag: str, prior: str | None) -> float:
    """`docker pull prior || true; docker build --cache-from prior`, as CI recipes do."""
    started = time.monotonic()
    cache_args: list[str] = []
    if prior:
        subprocess.run(["docker", "pull", prior], capture_output=True, check=False)
        cache_args = ["--cache-from", prior]
    sh("docker", "build", "--network", "host", "-f", dockerfile, *cache_args, "-t", tag,
       str(project), env=PLAIN_CLI_ENV)  # fmt: skip
    return time.monotonic() - started


def registry_bytes(stack_dir: Path) -> int:
    data = stack_dir / "registries" / "registry-local" / "data"
    return sum(p.stat().st_size for p in data.rglob("*") if p.is_file())


def waste(client: docker.DockerClient, image: str, base: str) -> tuple[float, dict[str, int]]:
    """Bytes of the image that are none of: base image, installed packages, model, code."""
    total = client.images.get(image).attrs["Size"]
    # BuildKit leaves the base image out of the local image store.
    base_size = client.images.pull(base).attrs["Size"]
    # File bytes only: `du` would also count directory entries, which the layers do not hold.
    count = (
        "import json, os, sys; print(json.dumps({d: sum(os.lstat(os.path.join(r, f)).st_size "
        "for r, _, fs in os.walk(d) for f in fs) for d in sys.argv[1:]}))"
    )
    output = client.containers.run(
        image, ["python", "-c", count, "/opt/venv", "/models", "/app"], remove=True,
        network_mode="none", entrypoint=[],
    ).decode()  # fmt: skip
    parts = json.loads(output)
    accounted = base_size + sum(parts.values())
    return (total - accounted) / total, {"total": total, "base": base_size, **parts}


def measure_backend(
    work: Path, backend: str, namespace: str, with_dependency_case: bool, stack_dir: Path
) -> tuple[list[Case], dict[str, object]]:
    """Cases 1 and 2 (and 5 for the default backend) with `pipeline build`."""
    client = docker.from_env(timeout=900)
    project = new_project(work, backend, f"{namespace}/{backend}", backend)
    wipe(client)
    seconds, report = pipeline_build(project)
    cases = [Case(1, "cold build", backend, seconds, cached_summary(report), report["size"])]

    change_code(project, "code-only change")
    wipe(client)
    before = registry_bytes(stack_dir)
    seconds, report = pipeline_build(project)
    added = registry_bytes(stack_dir) - before
    rebuild = Case(2, "code-only rebuild (pipeline build)", backend, seconds,
                   cached_summary(report), report["size"])  # fmt: skip
    rebuild.notes.append(f"the registry grew by {added} bytes")
    cases.append(rebuild)
    extras: dict[str, object] = {f"registry_bytes_code_only_{backend}": added}
    if not with_dependency_case:
        return cases, extras

    with (project / "requirements-app.txt").open("a") as handle:
        handle.write(NEW_APP_DEPENDENCY + "\n")
    commit(project, "feat: one more app dependency")
    wipe(client)
    seconds, report = pipeline_build(project)
    base_install = next(
        s for s in report["steps"]
        if "requirements-base" in s["instruction"] and "pip install" in s["instruction"]
    )  # fmt: skip
    dependency = Case(5, "app dependency added (pipeline build)", backend, seconds,
                      cached_summary(report), report["size"])  # fmt: skip
    dependency.notes.append(f"base requirements install cached: {base_install['cached']}")
    cases.append(dependency)
    ratio, parts = waste(client, report["image"], "python:3.11-slim")
    extras["waste"] = {"ratio": ratio, **parts}
    return cases, extras


def measure_plain(work: Path, number: int, name: str, dockerfile_text: str | None,
                  namespace: str) -> Case:  # fmt: skip
    """Cases 3 and 4: the CI recipe `docker pull prior; docker build --cache-from prior`."""
    client = docker.from_env(timeout=900)
    project = new_project(work, f"plain-{number}", f"{namespace}/plain-{number}", "classic")
    dockerfile = project / "Dockerfile"
    if dockerfile_text:
        dockerfile.write_text(dockerfile_text)
        commit(project, "single stage")
    prior = f"{REGISTRY}/{namespace}/plain-{number}:prior"
    wipe(client)
    plain_build(project, str(dockerfile), prior, None)
    sh("docker", "push", prior)
    change_code(project, "code-only change")
    wipe(client)
    seconds = plain_build(project, str(dockerfile), f"{prior}-next", prior)
    size = client.images.get(f"{prior}-next").attrs["Size"]
    return Case(number, name, PLAIN_BACKEND, seconds, size=size)


def print_table(cases: list[Case], extras: dict[str, object]) -> None:
    baseline = next(c.seconds for c in cases if c.number == 3)
    print(f"{'#':>2}  {'case':<52} {'backend':<21} {'seconds':>7} {'3 / this':>8} "
          f"{'cached':>6} {'size':>8}")  # fmt: skip
    for case in sorted(cases, key=lambda c: (c.number, c.backend)):
        print(f"{case.number:>2}  {case.name:<52} {case.backend:<21} {case.seconds:7.1f} "
              f"{baseline / case.seconds:7.1f}x {case.cached_steps:>6} "
              f"{case.size / 1e6:6.0f}MB")  # fmt: skip
        for note in case.notes:
            print(f"    {note}")
    waste_parts = extras.get("waste")
    if isinstance(waste_parts, dict):
        print(
            f"waste of the final image: {waste_parts['ratio']:.2%} (bytes: total "
            f"{waste_parts['total']}, base {waste_parts['base']}, venv "
            f"{waste_parts['/opt/venv']}, model {waste_parts['/models']}, code "
            f"{waste_parts['/app']})"
        )


def run(output: Path) -> None:
    from pipeline.build.backends import probe_backends
    from pipeline.devstack import ensure_up

    stack_dir = ensure_up().state_dir
    backends = [name for name, b in probe_backends(None).items() if not isinstance(b, str)]
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    cases: list[Case] = []
    extras: dict[str, object] = {"backends": backends, "namespace": namespace}
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as scratch:
        work = Path(scratch)
        for backend in backends:
            found, more = measure_backend(
                work, backend, namespace, backend == backends[0], stack_dir
            )
            cases += found
            extras.update(more)
        cases.append(measure_plain(work, 3, "code-only rebuild, docker build --cache-from",
                                   None, namespace))  # fmt: skip
        cases.append(measure_plain(work, 4, "code-only rebuild, wrong-order single stage",
                                   WRONG_ORDER_DOCKERFILE, namespace))  # fmt: skip
    print_table(cases, extras)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"cases": [asdict(c) for c in cases], **extras}, indent=2))
    print(f"results: {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench/results/rebuild.json")
    run(parser.parse_args().json)


if __name__ == "__main__":
    main()
