"""The one way we build: `docker buildx build` with a registry cache, pushing the candidate itself.

buildx is what CI users run (Docker 23 and later ship it; GitHub's and GitLab's runners have it).
One invocation builds every stage the target needs, imports the cache from the registry
(in the mode `pipeline.imagebuild.cachemode` decides), writes it back and pushes the image.
The engine's classic builder cannot use a registry cache and fails on the containerd image
store; BuildKit without buildx (`DOCKER_BUILDKIT=1` with a 20.x client) needs an end-of-life
CLI. Neither is offered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import PipelineError, UserError
from pipeline.distribution.auth import Credentials
from pipeline.distribution.errors import STORAGE_ADVICE, storage_full
from pipeline.engine.client import CONTAINERD_STORE, engine_answers, engine_endpoint
from pipeline.imagebuild.networking import build_network_hint
from pipeline.imagebuild.steps import RawJsonProgress, Step, StepCallback
from pipeline.registries.cli_login import cli_environment

ERROR_TAIL_LINES = 15
CACHE_OPTIONS = "image-manifest=true,oci-mediatypes=true"


# gzip level 5 against BuildKit's default 6, measured on cold builds of both examples
# (docs/benchmarks.md): the layers compress 18-25% faster for images 0.3% larger. zstd keeps
# buildx's default (level 3).
GZIP_LEVEL = 5


def _compression(compression: str) -> str:
    """Every layer in `compression`, the base image's too: a zstd image is one that pulls
    without gzip, and a gzip build must not push a zstd blob that the builder's cache holds
    from an earlier zstd build (a Docker schema 2 manifest naming one does not pull). A layer
    already held in `compression` is not compressed again, at any level."""
    level = f",compression-level={GZIP_LEVEL}" if compression == "gzip" else ""
    return f"compression={compression}{level},force-compression=true"


class BuildFailed(PipelineError):
    """The engine refused the Dockerfile or a step failed; the message names which."""


@dataclass
class BuildRequest:
    context: Path
    dockerfile: Path
    target: str | None
    tag: str
    cache_from: list[str] = field(default_factory=list)
    cache_to: str | None = None  # a registry ref; None writes no cache
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    platform: str | None = None
    push: bool = False
    # Seconds since the epoch (the commit's time): image and history timestamps come from it.
    source_date_epoch: int | None = None
    # For buildx's own registry traffic (base images, cache import and export, the push).
    logins: tuple[Credentials, ...] = ()
    # buildx `--secret` values (`id=ID,env=NAME`, `id=ID,src=PATH`): never the secret itself.
    secrets: tuple[str, ...] = ()
    compression: str = "gzip"  # of the pushed image's layers and the cache's: gzip or zstd
    # A pushed candidate also kept in the engine's image store, for what runs it here next.
    in_engine: bool = False
    cache_mode: str = "max"  # of the cache export: min or max (`cachemode.decide_cache_mode`)


@dataclass
class BuildOutcome:
    steps: list[Step]
    digest: str | None = None  # of the pushed manifest, from buildx's metadata file


# build.builder values that take buildx's current builder (`docker buildx use`).
CURRENT_BUILDER = ("auto", "buildx")


@dataclass(frozen=True)
class Buildx:
    cli: str
    builder: str
    driver: str
    why: str  # what `auto` found, for the report
    named: bool = False  # build.builder named the builder: every build passes --builder

    def command(self, request: BuildRequest, metadata_file: Path) -> list[str]:
        args = [self.cli, *self._selection(), "build", "--progress", "rawjson"]
        args += ["-f", str(request.dockerfile), "--metadata-file", str(metadata_file)]
        # No attestations: the image stays one plain manifest whose digest a re-run of the
        # same commit reproduces (provenance records build times and would make an index).
        args += ["--provenance=false", "--sbom=false"]
        if request.target:
            args += ["--target", request.target]
        args += ["-t", request.tag, *self._destination(request)]
        args += [f"--cache-from=type=registry,ref={ref}" for ref in request.cache_from]
        if request.cache_to:
            # The cache's layers compressed as the image's: the same layer is then one blob,
            # uploaded once.
            options = (
                f"mode={request.cache_mode},{CACHE_OPTIONS},{_compression(request.compression)}"
            )
            args += [f"--cache-to=type=registry,ref={request.cache_to},{options}"]
        build_args = dict(request.build_args)
        if request.source_date_epoch is not None:
            build_args["SOURCE_DATE_EPOCH"] = str(request.source_date_epoch)
        for key, value in sorted(build_args.items()):
            args += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(request.labels.items()):
            args += ["--label", f"{key}={value}"]
        args += [f"--secret={spec}" for spec in request.secrets]
        if request.network:
            args += ["--network", request.network]
        if request.platform:
            args += ["--platform", request.platform]
        return [*args, str(request.context)]

    def keeps(self, request: BuildRequest) -> bool:
        """Whether the engine's image store has the image after the build: loaded, or pushed by
        the engine's own BuildKit (the `docker` driver) and asked to be kept."""
        return not request.push or (request.in_engine and self.driver == "docker")

    def _destination(self, request: BuildRequest) -> list[str]:
        if not request.push:
            return ["--load"]
        # zstd layers need OCI media types: an engine refuses them in a Docker schema 2 manifest.
        media = "oci-mediatypes=true," if request.compression == "zstd" else ""
        options = f"{media}{_compression(request.compression)}"
        if self.keeps(request) or self.driver != "docker":
            return [f"--output=type=registry,{options}"]
        # The docker driver's BuildKit stores a pushed image in the engine too: on a cold build
        # it unpacks every layer, on a warm one it first pulls every cached layer
        # (docs/benchmarks.md, Rebuild). store=false skips that. `push=` is BuildKit's bare
        # flag, true; buildx (0.13.1 here) reads only a `push=true` as its cue to push the tag
        # again from the engine's store, where it is not.
        return [f"--output=type=image,push=,store=false,{options}"]

    def _selection(self) -> list[str]:
        if not self.named:
            return ["buildx"]
        if self.driver == "docker":
            # A `docker` driver builder is a docker context; buildx refuses it by --builder
            # ("use `docker --context=NAME buildx`").
            return ["--context", self.builder, "buildx"]
        return ["buildx", "--builder", self.builder]

    def build(self, request: BuildRequest, on_step: StepCallback | None = None) -> BuildOutcome:
        progress = RawJsonProgress(request.target or "stage-0", on_step)
        with (
            cli_environment(request.logins) as login,
            tempfile.TemporaryDirectory(prefix="pipeline-build-") as scratch,
        ):
            metadata_file = Path(scratch) / "metadata.json"
            process = subprocess.Popen(
                self.command(request, metadata_file),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, **login},
                # Its own process group: Ctrl-C and SIGTERM to us stop the build with us.
                start_new_session=True,
            )
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    progress.feed_line(line)
                returncode = process.wait()
            finally:
                _stop(process)
            if returncode != 0:
                fallback = f"{self.cli} buildx exited {returncode}"
                raise _engine_gone(progress) or _failure(request, progress, fallback)
            metadata = {}
            if metadata_file.exists():
                metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        digest = metadata.get("containerimage.digest") if request.push else None
        return BuildOutcome(steps=progress.steps, digest=digest)


def _stop(process: subprocess.Popen[str]) -> None:
    """A build still running when we leave (an exception, Ctrl-C) is ended with its children."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _engine_error(message: str, request: BuildRequest) -> str:
    """Turn `dockerfile parse error on line 5: ...` into `path/Dockerfile:5: ...`."""
    match = re.search(r"dockerfile parse error (?:on )?line (\d+): (.*)", message, re.IGNORECASE)
    if match:
        return f"{request.dockerfile}:{match.group(1)}: {match.group(2).strip()}"
    return message.strip()


# buildx's words when its connection to BuildKit broke, not a step: gRPC's, as it reports them.
_LOST_BUILDER = ("error reading from server: eof", "code = unavailable", "transport is closing")


def _engine_gone(progress: RawJsonProgress) -> BuildFailed | None:
    """The failure when the engine or builder went away, which buildx reports as the step it
    was running: gRPC's words for a lost connection, or an engine that no longer answers."""
    tail = [*progress.errors, *progress.tail]
    lost = any(marker in line.lower() for line in tail for marker in _LOST_BUILDER)
    if not lost and engine_answers():
        return None
    running = next((s for s in reversed(progress.steps) if not s.cached), None)
    at = f" (at {running.label()})" if running else ""
    return BuildFailed(
        f"the Docker engine at {engine_endpoint(os.environ)} or its builder went away during "
        f"the build{at}: stopped, killed or restarted, no fault of the Dockerfile; the candidate "
        "was not pushed. Start the engine (e.g. systemctl start docker) and re-run"
    )


def _failure(request: BuildRequest, progress: RawJsonProgress, fallback: str) -> BuildFailed:
    tail = list(progress.tail)
    solve = next((line for line in reversed(tail) if line.startswith("ERROR:")), "")
    error = progress.errors[-1] if progress.errors else solve or (tail or [fallback])[-1]
    located = _engine_error(solve or error, request)
    if located != (solve or error).strip():
        return BuildFailed(f"invalid Dockerfile: {located}")
    failing = next((s for s in reversed(progress.steps) if not s.cached and s.output), None)
    lines = list(failing.output) if failing else tail
    where = f"step {failing.label()} failed" if failing else "build failed"
    output = "\n".join(f"  | {line}" for line in lines[-ERROR_TAIL_LINES:])
    hint = build_network_hint(error, *lines)
    if storage_full(error):
        hint += f"; {STORAGE_ADVICE}"
    return BuildFailed(f"{where}: {error}{hint}" + (f"\n{output}" if output else ""))


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


def _output(args: list[str]) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def find_buildx(configured_cli: str | None, engine_store: str, builder: str = "auto") -> Buildx:
    """The docker CLI with buildx and the builder `builder` (build.builder: a name of
    `docker buildx ls`, or the current one), or one line saying what to install or create.

    `engine_store` is `docker info`'s driver-type (or graph driver): buildx's built-in `docker`
    driver exports a registry cache only from the containerd image store.
    """
    named = builder not in CURRENT_BUILDER
    clis = _cli_candidates(configured_cli)
    for cli in clis:
        version = _output([cli, "buildx", "version"])
        if version is None:
            continue
        inspect = _output([cli, "buildx", "inspect", *([builder] if named else [])])
        if inspect is None and named:
            raise UserError(
                f"build.builder: no buildx builder {builder!r} ({cli} buildx ls lists them); "
                f"create it (docker buildx create --name {builder} --driver docker-container, "
                "or the CI's set-up step) or set build.builder: auto"
            )
        inspect = inspect or ""
        name = re.search(r"^Name:\s*(\S+)", inspect, re.MULTILINE)
        driver = re.search(r"^Driver:\s*(\S+)", inspect, re.MULTILINE)
        builder, driver_name = (
            (name.group(1) if name else "?"),
            (driver.group(1) if driver else "?"),
        )
        if driver_name == "docker" and engine_store != CONTAINERD_STORE:
            raise UserError(
                f"buildx builder {builder!r} (docker driver) cannot export a registry cache from "
                f"an engine with the {engine_store} image store; enable the containerd image "
                'store ("features": {"containerd-snapshotter": true} in daemon.json) or create '
                "a builder: docker buildx create --use --driver docker-container"
            )
        why = f"{cli} buildx {' '.join(version.split()[1:2])}, builder {builder} ({driver_name})"
        return Buildx(cli, builder, driver_name, why, named)
    tried = ", ".join(clis) or "none on PATH"
    raise UserError(
        f"no docker CLI with buildx (tried {tried}); install the buildx plugin "
        "(docker-buildx-plugin from Docker's packages, docker-buildx on Debian and Ubuntu; "
        "Docker 23 and later ship it) or set build.docker_cli"
    )
