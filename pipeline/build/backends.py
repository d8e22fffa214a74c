"""The three ways to build: buildx (registry cache), BuildKit through a docker CLI, classic SDK.

Each backend builds one target with the cache references it is given; which stages to build
and what to push is `pipeline.build.run`'s business.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.build.cli_login import cli_environment
from pipeline.build.steps import BuildKitProgress, ClassicProgress, Step, StepCallback
from pipeline.engine import docker_client
from pipeline.errors import PipelineError, UserError
from pipeline.registries.credentials import Credentials

# From docker 23 on, `DOCKER_BUILDKIT=1 docker build` insists on the buildx plugin.
LAST_CLI_MAJOR_WITH_BUILTIN_BUILDKIT = 22
ERROR_TAIL_LINES = 15


class BuildFailed(PipelineError):
    """The engine refused the Dockerfile or a step failed; the message names which."""


@dataclass
class BuildRequest:
    context: Path
    dockerfile: Path
    target: str | None
    tags: list[str]
    cache_from: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    platform: str | None = None
    # buildx only: it writes the cache and pushes in the same run.
    cache_to: str | None = None
    push: bool = False
    # For the CLI backends' own registry traffic (cache import, buildx push).
    credentials: Credentials | None = None


@dataclass
class BuildOutcome:
    steps: list[Step]
    image_id: str | None = None
    digest: str | None = None  # buildx pushes itself and reports the digest


def dockerfile_arg(request: BuildRequest) -> str:
    """The Dockerfile as the engine wants it: relative to the context when inside it."""
    try:
        return str(request.dockerfile.resolve().relative_to(request.context.resolve()))
    except ValueError:
        return str(request.dockerfile.resolve())


def _engine_error(message: str, request: BuildRequest) -> str:
    """Turn `dockerfile parse error line 5: ...` into `path/Dockerfile:5: ...`."""
    match = re.search(r"dockerfile parse error (?:on )?line (\d+): (.*)", message, re.IGNORECASE)
    if match:
        return f"{request.dockerfile}:{match.group(1)}: {match.group(2).strip()}"
    return message.strip()


def _failure(request: BuildRequest, steps: list[Step], error: str, tail: list[str]) -> BuildFailed:
    located = _engine_error(error, request)
    if located != error.strip():
        return BuildFailed(f"invalid Dockerfile: {located}")
    failing = next((s for s in reversed(steps) if not s.cached), None)
    lines = list(failing.output)[-ERROR_TAIL_LINES:] if failing and failing.output else tail
    where = f"step {failing.label()} failed" if failing else "build failed"
    output = "\n".join(f"  | {line}" for line in lines[-ERROR_TAIL_LINES:])
    return BuildFailed(f"{where}: {located}" + (f"\n{output}" if output else ""))


class ClassicBackend:
    """The engine's classic builder through the docker SDK: cache only from local images."""

    name = "classic"
    needs_local_cache_images = True

    def build(self, request: BuildRequest, on_step: StepCallback | None = None) -> BuildOutcome:
        import docker

        progress = ClassicProgress(on_step)
        try:
            stream = docker_client().api.build(
                path=str(request.context),
                dockerfile=dockerfile_arg(request),
                tag=request.tags[0],
                target=request.target,
                cache_from=request.cache_from or None,
                buildargs=request.build_args or None,
                labels=request.labels or None,
                network_mode=request.network,
                platform=request.platform,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                progress.feed(chunk)
        except docker.errors.APIError as exc:
            raise _failure(request, progress.steps, exc.explanation or str(exc), []) from exc
        progress.finish()
        if progress.error or not progress.image_id:
            raise _failure(request, progress.steps, progress.error or "no image produced", [])
        image = docker_client().images.get(progress.image_id)
        for extra in request.tags[1:]:
            repository, _, tag = extra.rpartition(":")
            image.tag(repository, tag)
        return BuildOutcome(steps=progress.steps, image_id=progress.image_id)


class CliBackend:
    """BuildKit through a docker CLI: `DOCKER_BUILDKIT=1 docker build` or `docker buildx build`."""

    def __init__(self, cli: str, buildx: bool) -> None:
        self.cli = cli
        self.buildx = buildx
        self.name = "buildx" if buildx else "buildkit"
        self.needs_local_cache_images = False

    def command(self, request: BuildRequest, iidfile: Path, metadata_file: Path) -> list[str]:
        args = [self.cli, *(["buildx", "build"] if self.buildx else ["build"])]
        args += ["--progress", "plain", "-f", str(request.dockerfile), "--iidfile", str(iidfile)]
        if request.target:
            args += ["--target", request.target]
        for tag in request.tags:
            args += ["-t", tag]
        if self.buildx:
            args += ["--metadata-file", str(metadata_file)]
            args += [f"--cache-from=type=registry,ref={ref}" for ref in request.cache_from]
            if request.cache_to:
                args += [f"--cache-to={request.cache_to}"]
            args += ["--push"] if request.push else ["--load"]
        else:
            args += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
            args += [f"--cache-from={ref}" for ref in request.cache_from]
        for key, value in sorted(request.build_args.items()):
            args += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(request.labels.items()):
            args += ["--label", f"{key}={value}"]
        if request.network:
            args += ["--network", request.network]
        if request.platform:
            args += ["--platform", request.platform]
        return [*args, str(request.context)]

    def build(self, request: BuildRequest, on_step: StepCallback | None = None) -> BuildOutcome:
        progress = BuildKitProgress(request.target or "stage-0", on_step)
        with (
            cli_environment(request.credentials) as login,
            tempfile.TemporaryDirectory(prefix="pipeline-build-") as scratch,
        ):
            env = {**os.environ, "DOCKER_BUILDKIT": "1", **login}
            iidfile = Path(scratch) / "iid"
            metadata_file = Path(scratch) / "metadata.json"
            process = subprocess.Popen(
                self.command(request, iidfile, metadata_file),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            assert process.stdout is not None
            for line in process.stdout:
                progress.feed_line(line)
            if process.wait() != 0:
                tail = list(progress.tail) or [f"{self.cli} exited {process.returncode}"]
                error = progress.errors[-1] if progress.errors else tail[-1]
                raise _failure(request, progress.steps, error, tail)
            image_id = iidfile.read_text().strip() if iidfile.exists() else None
            digest = None
            if metadata_file.exists():
                digest = json.loads(metadata_file.read_text()).get("containerimage.digest")
        return BuildOutcome(steps=progress.steps, image_id=image_id, digest=digest)


Backend = ClassicBackend | CliBackend


def _cli_candidates(configured: str | None) -> list[str]:
    if configured:
        found = shutil.which(configured)
        if not found:
            raise UserError(f"build.docker_cli: {configured!r} is not an executable on PATH")
        return [found]
    seen: list[str] = []
    for directory in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin"]:
        candidate = os.path.join(directory, "docker")
        real = os.path.realpath(candidate)
        if os.access(candidate, os.X_OK) and real not in map(os.path.realpath, seen):
            seen.append(candidate)
    return seen


def _cli_works(args: list[str]) -> bool:
    try:
        return subprocess.run(args, capture_output=True, timeout=30, check=False).returncode == 0
    except OSError:
        return False


def _client_major(cli: str) -> int | None:
    try:
        result = subprocess.run(
            [cli, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    match = re.match(r"(\d+)\.", result.stdout.strip())
    return int(match.group(1)) if match else None


def probe_backends(configured_cli: str | None) -> dict[str, Backend | str]:
    """Each backend, or the reason it cannot run on this host."""
    found: dict[str, Backend | str] = {}
    clis = _cli_candidates(configured_cli)
    buildx_cli = next((c for c in clis if _cli_works([c, "buildx", "version"])), None)
    found["buildx"] = (
        CliBackend(buildx_cli, buildx=True) if buildx_cli else "no docker CLI with buildx found"
    )
    buildkit_cli = next(
        (
            c
            for c in clis
            if (major := _client_major(c)) is not None
            and (major <= LAST_CLI_MAJOR_WITH_BUILTIN_BUILDKIT or c == buildx_cli)
        ),
        None,
    )
    found["buildkit"] = (
        CliBackend(buildkit_cli, buildx=False)
        if buildkit_cli
        else "no docker CLI that runs DOCKER_BUILDKIT=1 docker build (a 20.x/22.x client, "
        "or one with buildx); set build.docker_cli"
    )
    found["classic"] = ClassicBackend()
    return found


def choose_backend(preference: str, configured_cli: str | None) -> Backend:
    backends = probe_backends(configured_cli)
    order = ["buildx", "buildkit", "classic"] if preference == "auto" else [preference]
    for name in order:
        backend = backends[name]
        if not isinstance(backend, str):
            return backend
    raise UserError(f"build.builder {preference}: {backends[preference]}")
