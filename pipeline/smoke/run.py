"""The smoke test's sequence: pull, start, GPU, health, samples, latency, graceful shutdown.

`run_smoke(config, out, image, registry) -> SmokeReport` is what the release step calls; it
raises `SmokeFailed` (a CheckFailed, exit 2) carrying the report when a check says no.
"""

from __future__ import annotations

import contextlib
import functools
import math
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline.config.schema import Config
from pipeline.console.interrupts import sigterm_interrupts
from pipeline.console.output import Output
from pipeline.core.errors import CheckFailed, PipelineError
from pipeline.distribution.reference import ImageRef
from pipeline.engine.client import docker_client
from pipeline.engine.transfer import pull
from pipeline.registries import Target
from pipeline.smoke.checks import Check, CheckError, CheckSkipped
from pipeline.smoke.container import (
    TOOLKIT_URL,
    ContainerSpec,
    GpuRuntimeMissing,
    SmokeContainer,
    container_spec,
    local_image,
    start_container,
)
from pipeline.smoke.gpu import gpu_problems, inspect_gpu
from pipeline.smoke.http import InFlight, request_json, send, wait_healthy
from pipeline.smoke.ports import AppPort, app_port, listening_ports, mismatch
from pipeline.smoke.report import MARKS, SmokeReport, write_json, write_junit
from pipeline.smoke.sample_request import SampleRequest
from pipeline.smoke.samples import Sample, answer_problem, instance_count, large_batch, load_samples

if TYPE_CHECKING:
    import requests

LOG_LINES = 50
# The request kept in flight across SIGTERM should take about this long: long enough to still
# be running when the signal lands, well inside any sensible grace period.
IN_FLIGHT_TARGET_MS = 2000.0
MAX_BATCH = 20000
# How long the app may listen elsewhere before smoke.health's port is called wrong: Ray opens its
# cluster's ports some 10 s (on 2 cores) before Serve's HTTP proxy listens.
MISMATCH_GRACE = 30.0


class SmokeFailed(CheckFailed):
    """A check said no; `report` has every check, and is already written to disk."""

    def __init__(self, report: SmokeReport) -> None:
        failure = report.failure
        assert failure is not None
        super().__init__(f"smoke test of {report.image} failed: {failure.name}: {failure.message}")
        self.report = report


def run_smoke(config: Config, out: Output, image: ImageRef, registry: Target | None) -> SmokeReport:
    """`registry`: the target whose credentials pull `image`; None tests the engine's own copy."""
    # Bad input fails before anything is pulled or started.
    samples = load_samples(config.path(config.smoke.samples_dir))
    spec = container_spec(config.smoke, config.project_dir, str(image))
    docker_client()
    run = _Run(config, out, spec, samples, registry)
    # A cancelled CI job (SIGTERM) still removes the container.
    with sigterm_interrupts():
        report = run.execute()
    report.report_path = config.path(config.smoke.report)
    report.junit_path = config.path(config.smoke.junit)
    write_json(report, report.report_path)
    write_junit(report, report.junit_path)
    if run.error:
        raise run.error
    if not report.passed:
        raise SmokeFailed(report)
    return report


class _Run:
    def __init__(
        self,
        config: Config,
        out: Output,
        spec: ContainerSpec,
        samples: list[Sample],
        registry: Target | None,
    ) -> None:
        self.config = config
        self.smoke = config.smoke
        self.out = out
        self.spec = spec
        self.samples = samples
        self.registry = registry
        self.report = SmokeReport(
            image=spec.image, network=spec.network, gpu={"requested": self.smoke.gpu}
        )
        self.container: SmokeContainer | None = None
        self.image_config: dict[str, Any] = {}
        self.gpu_used = False
        self.port: AppPort | None = None  # decided at the start, from the image's config
        self._mismatch_since: float | None = None  # when the app was first seen elsewhere
        self.stopping = False  # set once the shutdown check has sent SIGTERM
        self.sample_ms: dict[str, float] = {}
        self.error: PipelineError | None = None  # bad input found mid-run, raised after reports
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        import requests

        if self._session is None:
            self._session = requests.Session()
        return self._session

    @property
    def url(self) -> str:
        assert self.container is not None
        return self.container.url

    def execute(self) -> SmokeReport:
        started = time.monotonic()
        try:
            for name, step in self._plan():
                self._check(name, step)
        finally:
            self._clean_up()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _plan(self) -> list[tuple[str, Callable[[Check], None]]]:
        samples = [
            (f"sample {sample.name}", functools.partial(self._sample, sample))
            for sample in self.samples
        ]
        return [
            ("pull", self._pull),
            ("start", self._start),
            ("gpu", self._gpu),
            ("health", self._health),
            ("gpu-info", self._gpu_info),
            *samples,
            ("latency", self._latency),
            ("shutdown", self._shutdown),
        ]

    def _check(self, name: str, step: Callable[[Check], None]) -> None:
        import docker

        check = Check(name)
        failed = self.report.failure
        if failed:
            check.status, check.message = "skipped", f"not run: {failed.name} failed"
            self.report.checks.append(check)
            return
        started = time.monotonic()
        try:
            step(check)
        except CheckSkipped as exc:
            check.status, check.message = "skipped", str(exc)
        except CheckError as exc:
            check.status, check.message = "failed", str(exc) + self._exited_note()
        except docker.errors.APIError as exc:
            check.status = "failed"
            check.message = f"the engine said: {exc.explanation or exc}{self._exited_note()}"
        except PipelineError as exc:
            check.status, check.message = "failed", str(exc)
            self.error = exc
        check.seconds = time.monotonic() - started
        self.report.checks.append(check)
        self.out.note(f"smoke: {MARKS[check.status]} {check.name} {check.message}".rstrip())

    def _exited_note(self) -> str:
        """Why a request or exec failed is usually that the app died: say so, with its code."""
        import docker

        if self.container is None or self.stopping:
            return ""
        with contextlib.suppress(docker.errors.DockerException):
            code = self.container.exit_code()
            if code is not None:
                return f" (the container exited with code {code})"
        return ""

    def _clean_up(self) -> None:
        import docker

        if self._session is not None:
            self._session.close()
        if self.container is None:
            return
        try:
            if not self.report.passed:
                # A container that vanished has no logs to show; its removal still must run.
                with contextlib.suppress(docker.errors.DockerException):
                    self.report.logs_tail = self.container.logs_tail(LOG_LINES)
                self.out.note(f"smoke: last {LOG_LINES} lines of {self.container.name}'s log:")
                for line in self.report.logs_tail:
                    self.out.note(f"  {line}")
        finally:
            self.container.remove()

    # The checks, in order. Each fills in `check` and raises CheckError when it says no.

    def _pull(self, check: Check) -> None:
        image = self.spec.image
        if self.registry:
            credentials = self.registry.keychain.resolve(ImageRef.parse(image).host)
            pull(image, credentials, self.registry.policy, self.out.note)
        local = local_image(image)
        self.image_config = local.attrs.get("Config") or {}
        self.report.image_id = local.id
        check.message = ("pulled " if self.registry else "local ") + (local.short_id or "")

    def _start(self, check: Check) -> None:
        want_gpu = self.smoke.gpu != "off"
        self.port = app_port(self.spec.port, self.image_config, self.spec.network)
        try:
            self.container = start_container(self.spec, self.port, gpu=want_gpu)
        except GpuRuntimeMissing as exc:
            if self.smoke.gpu == "required":
                raise CheckError(
                    f"gpu: required, but this Docker engine has no NVIDIA runtime (the engine "
                    f"said: {exc}); install the NVIDIA Container Toolkit ({TOOLKIT_URL}) and "
                    "restart the engine, or use --gpu auto|off"
                ) from exc
            self.report.gpu["note"] = f"skipped (no NVIDIA runtime): the engine said: {exc}"
            self.out.note("smoke: no NVIDIA runtime in this engine; running without a GPU")
            self.container = start_container(self.spec, self.port, gpu=False)
        else:
            self.gpu_used = want_gpu
        self.report.gpu["used"] = self.gpu_used
        self.report.container, self.report.url = self.container.name, self.container.url
        check.message = (
            f"{self.container.name} on {self.container.url}, the app's port "
            f"{self.container.port} from {self.port.source}"
            + (" with every GPU" if self.gpu_used else "")
        )

    def _gpu(self, check: Check) -> None:
        if not self.gpu_used:
            raise CheckSkipped(self.report.gpu.get("note", "skipped (gpu: off)"))
        assert self.container is not None
        facts = inspect_gpu(
            self.container.exec,
            self.image_config.get("Env") or [],
            self.image_config.get("Labels") or {},
        )
        check.details = facts.as_dict()
        self.report.gpu.update(check.details)
        problems = gpu_problems(facts)
        if problems:
            raise CheckError("; ".join(problems))
        devices = ", ".join(
            f"{gpu.name} ({gpu.as_dict()['compute_capability']})" for gpu in facts.devices
        )
        check.message = (
            f"{devices}; driver CUDA {check.details['driver_cuda'] or '?'}, "
            f"image CUDA {facts.image_cuda or '?'}"
        )

    def _health(self, check: Check) -> None:
        assert self.container is not None
        wait_healthy(
            self.url,
            self.smoke.health,
            self.smoke.start_period,
            self.container.exit_code,
            refused=self._elsewhere,
        )
        check.message = "200"

    def _elsewhere(self) -> str | None:
        """Why smoke.health is refused when the app is up on another port. Said once seen for
        MISMATCH_GRACE s in a row: an app may open side ports well before its main one."""
        assert self.container is not None and self.port is not None
        listening = listening_ports(self.container.exec, self.spec.network)
        found = mismatch(
            self.smoke.health,
            self.container.port,
            self.port.source,
            listening,
            self.container.healthy(),
        )
        if found is None:
            self._mismatch_since = None
            return None
        if self._mismatch_since is None:
            self._mismatch_since = time.monotonic()
        return found if time.monotonic() - self._mismatch_since >= MISMATCH_GRACE else None

    def _gpu_info(self, check: Check) -> None:
        if not self.gpu_used:
            raise CheckSkipped("no GPU in the container")
        reply = request_json(self.session, "GET", f"{self.url}/gpu-info")
        check.details = {"status": reply.status, "body": reply.body}
        self.report.gpu["gpu_info"] = reply.body
        if reply.status != 200 or not isinstance(reply.body, dict):
            raise CheckError(f"GET /gpu-info answered {reply.status}: {reply.text[:200]}")
        if reply.body.get("cuda_available") is not True:
            raise CheckError(
                "GET /gpu-info says cuda_available is not true: the app's framework cannot use "
                f"the GPU ({reply.text[:200]})"
            )
        check.message = f"{reply.body.get('device_count', '?')} device(s) visible to the app"

    def _sample(self, sample: Sample, check: Check) -> None:
        reply = send(self.session, sample.request.prepare(self.url))
        problem = answer_problem(sample, reply, self.smoke.tolerance)
        if problem:
            raise CheckError(problem)
        self.sample_ms[sample.name] = reply.ms
        check.message = f"{reply.status} in {reply.ms:.1f} ms" + (
            ", golden values match" if sample.golden is not None else ""
        )

    def _latency(self, check: Check) -> None:
        count = self.smoke.requests
        if count <= 0:
            raise CheckSkipped("smoke.requests is 0")
        times = []
        for index in range(count):
            sample = self.samples[index % len(self.samples)]
            reply = send(self.session, sample.request.prepare(self.url))
            if reply.status != sample.status:
                raise CheckError(
                    f"request {index + 1} of {count} ({sample.file}) answered {reply.status}"
                )
            times.append(reply.ms)
        p50, p95 = _percentiles(times)
        self.report.latency_ms = {
            "requests": count,
            "p50": round(p50, 2),
            "p95": round(p95, 2),
            "max": round(max(times), 2),
        }
        check.details = dict(self.report.latency_ms)
        check.message = f"p50 {p50:.1f} ms, p95 {p95:.1f} ms over {count} requests"

    def _shutdown(self, check: Check) -> None:
        assert self.container is not None
        grace = self.smoke.grace_period
        sample, request = self._busy_request(grace)
        flight = InFlight(request.prepare(self.url), timeout=grace + 30)
        flight.sent.wait(grace + 30)
        in_flight = not flight.done
        self.stopping = True
        signalled = time.monotonic()
        self.container.terminate()
        code = self.container.wait_exit(grace)
        waited = time.monotonic() - signalled
        flight.wait(5)
        check.details = {
            "exit_code": code,
            "seconds_to_exit": round(waited, 2),
            "request_in_flight_at_sigterm": in_flight,
            "request_status": flight.status,
            "request_error": flight.error,
        }
        if code is None:
            raise CheckError(
                f"the container did not exit within smoke.grace_period ({grace} s) of SIGTERM; "
                "the app must handle SIGTERM (a process running as PID 1, e.g. under a "
                "shell-form CMD, ignores it unless it installs a handler)"
            )
        if flight.status != sample.status:
            raise CheckError(
                f"the request in flight at SIGTERM did not complete with {sample.status}: "
                + (f"it got {flight.status}" if flight.status else f"{flight.error}")
            )
        if code != 0:
            raise CheckError(f"the container exited with code {code} after SIGTERM, not 0")
        check.message = f"exit 0 {waited:.1f} s after SIGTERM, " + (
            f"the request in flight answered {sample.status}"
            if in_flight
            else "but the request finished before SIGTERM (too quick to overlap)"
        )

    def _busy_request(self, grace: int) -> tuple[Sample, SampleRequest]:
        """The sample with the most instances, repeated so that answering takes about
        IN_FLIGHT_TARGET_MS (by the latency measured for it), within a quarter of the grace;
        a sample without `instances` goes as it is."""
        # A sample that expects an error (a 404 check) says nothing about draining requests.
        answered = [sample for sample in self.samples if sample.status < 400] or self.samples
        sample = max(answered, key=lambda sample: instance_count(sample.payload))
        measured = self.sample_ms.get(sample.name) or 1.0
        target = min(IN_FLIGHT_TARGET_MS, grace * 1000 / 4)
        per_request = instance_count(sample.payload)
        size = min(MAX_BATCH, per_request * max(1, math.ceil(target / measured)))
        batch = large_batch(sample.payload, size)
        return sample, sample.request if batch is None else sample.request.with_payload(batch)


def _percentiles(times: list[float]) -> tuple[float, float]:
    if len(times) == 1:
        return times[0], times[0]
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[94]
