"""The smoke step against the real engine: real images, real containers, no mocks.

The bundled example passes; purpose-built images (tests/data/smoke/<case>/, one stdlib server
in different modes) each fail with their own message and leave no container behind. The GPU
path cannot run here (no GPU, no NVIDIA runtime): its parsing and checks are tested as pure
functions against real nvidia-smi output captured in tests/data/smoke/nvidia-smi/, and
inspect_gpu with a table of those answers in place of the container's exec.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.console.output import Output
from pipeline.core.errors import UserError
from pipeline.cuda.drivers import minimum_driver, parse_driver
from pipeline.distribution.reference import ImageRef
from pipeline.engine.transfer import push
from pipeline.project.worktree import build_source, read_build_context
from pipeline.registries import resolve_target
from pipeline.smoke.checks import Check, CheckError
from pipeline.smoke.container import LABEL, container_spec
from pipeline.smoke.gpu import (
    QUERY_COMMAND,
    TORCH_PROBE,
    Exec,
    Gpu,
    GpuFacts,
    arch_problem,
    covering_arch,
    driver_cuda_version,
    driver_problem,
    gpu_problems,
    image_cuda_version,
    inspect_gpu,
    parse_gpu_query,
)
from pipeline.smoke.report import SmokeReport, junit_xml
from pipeline.smoke.run import SmokeFailed, run_smoke
from pipeline.smoke.samples import golden_problems, large_batch, load_samples, shape_problems
from pipeline.versioning.image_tags import candidate
from tests.support.signals import interruptible

if TYPE_CHECKING:
    import docker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "churn"
DATA = Path(__file__).resolve().parent / "data" / "smoke"
CAPTURES = DATA / "nvidia-smi"
FAKE_SAMPLES = DATA / "samples"
CASES = ("ok", "exits-on-start", "never-healthy", "predict-500", "wrong-shape", "ignores-sigterm")


def capture(name: str) -> str:
    return (CAPTURES / name).read_text(encoding="utf-8")


def torch_arch_list(warning: str) -> list[str]:
    """The arch list PyTorch printed in its incompatibility warning."""
    match = re.search(r"supports CUDA capabilities (.+)\.", warning)
    assert match, warning
    return match[1].split()


# --- GPU parsing and checks, against captured real output -------------------------------------


class TestNvidiaSmiCaptures:
    def test_driver_cuda_version_from_each_header_layout(self) -> None:
        assert driver_cuda_version(capture("h100-535.129.03.txt")) == (12, 2)
        assert driver_cuda_version(capture("a100-580.126.09.txt")) == (13, 0)
        assert driver_cuda_version(capture("a100-450.119.03.txt")) == (11, 0)
        # R610 renamed the field: "CUDA UMD Version: 13.3".
        assert driver_cuda_version(capture("b200-610.43.02.txt")) == (13, 3)
        assert (
            driver_cuda_version("NVIDIA-SMI 418.92 Driver Version: 418.92 CUDA Version: N/A")
            is None
        )

    def test_query_csv_with_its_header(self) -> None:
        fields = ("compute_cap", "compute_mode", "driver_version", "name", "index")
        gpus = parse_gpu_query(capture("query-titanv-rtx5880-570.86.15.csv"), fields)
        assert gpus == [
            Gpu("NVIDIA TITAN V", "570.86.15", None, (7, 0)),
            Gpu("NVIDIA RTX 5880 Ada Generation", "570.86.15", None, (8, 9)),
        ]

    def test_query_with_the_smoke_fields_and_a_comma_in_the_name(self) -> None:
        # Synthetic, from the H100 capture's values: no capture of this exact query was found.
        text = (
            "9.0, 535.129.03, 81559 MiB, NVIDIA H100 80GB HBM3\n"
            "7.5, 535.129.03, 4096 MiB, Example GPU, Rev 2\n"
        )
        assert [gpu.as_dict() for gpu in parse_gpu_query(text)] == [
            {
                "name": "NVIDIA H100 80GB HBM3",
                "driver_version": "535.129.03",
                "memory_total": "81559 MiB",
                "compute_capability": "9.0",
            },
            {
                "name": "Example GPU, Rev 2",
                "driver_version": "535.129.03",
                "memory_total": "4096 MiB",
                "compute_capability": "7.5",
            },
        ]

    def test_driver_too_old_for_the_image_names_both_versions(self) -> None:
        h100 = driver_cuda_version(capture("h100-535.129.03.txt"))
        assert h100 is not None
        problem = driver_problem(h100, "12.4.1", "env CUDA_VERSION")
        assert problem is not None
        assert "supports CUDA up to 12.2" in problem and "CUDA 12.4.1 (env CUDA_VERSION)" in problem
        assert driver_problem(h100, "12.2.0", "env CUDA_VERSION") is None
        assert driver_problem(h100, "11.8", "env CUDA_VERSION") is None

        old = driver_cuda_version(capture("a100-450.119.03.txt"))
        assert old is not None
        assert "up to 11.0" in (driver_problem(old, "12.1", "torch.version.cuda") or "")
        new = driver_cuda_version(capture("a100-580.126.09.txt"))
        assert new is not None and driver_problem(new, "12.4.1", "label") is None

    def test_driver_against_nvidias_minimum_for_the_release(self) -> None:
        # The A100 capture: driver 450.119.03. The table knows CUDA 11.1 GA needs 455.23...
        old = driver_cuda_version(capture("a100-450.119.03.txt"))
        problem = driver_problem(old, "11.1", "env CUDA_VERSION", "450.119.03")
        assert problem is not None
        assert "450.119.03 is older than 455.23, the minimum for CUDA 11.1 GA" in problem
        assert "NVIDIA CUDA Toolkit Release Notes, Table 3" in problem
        assert "supports CUDA up to 11.0" in problem
        # ...and decides without the header's CUDA version too (a layout it cannot read).
        assert driver_problem(None, "12.4.1", "env CUDA_VERSION", "450.119.03") is not None
        # The H100 capture: driver 535.129.03 runs every CUDA 12.2 update, not 12.3 GA.
        h100 = driver_cuda_version(capture("h100-535.129.03.txt"))
        assert driver_problem(h100, "12.2.2", "env CUDA_VERSION", "535.129.03") is None
        assert "545.23.06, the minimum for CUDA 12.3 GA" in (
            driver_problem(h100, "12.3", "torch.version.cuda", "535.129.03") or ""
        )
        # The B200 capture (R610): torch 2.15.0's CUDA 13.2 Update 2 needs 595.71.05.
        assert driver_problem((13, 3), "13.2.2", "torch.version.cuda", "610.43.02") is None

    def test_minimum_driver_table(self) -> None:
        assert minimum_driver("12.4.1") == ("550.54.15", "CUDA 12.4 Update 1")
        assert minimum_driver("12.4") == ("550.54.14", "CUDA 12.4 GA")
        # torch.version.cuda of torch 2.15.0 from PyPI, built on cuda-toolkit 13.2.2.
        assert minimum_driver("13.2") == ("595.45.04", "CUDA 13.2 GA")
        # An update published after the table: its line's newest row.
        assert minimum_driver("12.6.4") == ("560.35.05", "CUDA 12.6 Update 3")
        assert minimum_driver("10.2") is None and minimum_driver("13.9") is None
        assert minimum_driver("cuda") is None
        assert parse_driver("535.104.05") == (535, 104, 5) > (535, 86, 9)
        assert parse_driver("570.26") == (570, 26) < (570, 124, 6)

    def test_image_cuda_version_sources(self) -> None:
        assert image_cuda_version(["PATH=/usr/bin", "CUDA_VERSION=12.4.1"], {}) == (
            "12.4.1",
            "env CUDA_VERSION",
        )
        assert image_cuda_version([], {"com.nvidia.cuda.version": "12.1.0"}) == (
            "12.1.0",
            "label com.nvidia.cuda.version",
        )
        require = "NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471"
        assert image_cuda_version([require], {}) == ("12.4", "env NVIDIA_REQUIRE_CUDA")
        assert image_cuda_version(["PATH=/usr/bin"], {}) is None

    def test_arch_missing_from_the_torch_build(self) -> None:
        # pytorch/pytorch#45028: an A100 (sm_80) with a build for sm_37 sm_50 sm_60 sm_70.
        arch_list = torch_arch_list(capture("torch-a100-arch-warning.txt"))
        a100 = Gpu("A100-SXM4-40GB", "450.119.03", None, (8, 0))
        assert covering_arch((8, 0), arch_list) is None
        problem = arch_problem(a100, arch_list)
        assert problem is not None
        assert "compute capability 8.0 (sm_80)" in problem and "sm_37 sm_50 sm_60 sm_70" in problem

    def test_arch_covered_natively_by_the_same_major(self) -> None:
        arch_list = torch_arch_list(capture("torch-h100-arch-warning.txt"))
        assert covering_arch((8, 6), arch_list) == "sm_86"
        # SASS for sm_80 runs on 8.9 (same major, higher minor); sm_86 does not run on 8.0.
        assert covering_arch((8, 9), arch_list) == "sm_86"
        assert covering_arch((8, 0), ["sm_86"]) is None
        assert covering_arch((9, 0), ["sm_80", "sm_90"]) == "sm_90"
        assert covering_arch((10, 0), ["sm_90", "sm_100", "sm_120"]) == "sm_100"
        # Arch-specific variants run only on their own capability.
        assert covering_arch((9, 0), ["sm_90a"]) == "sm_90a"
        assert covering_arch((10, 0), ["sm_90a", "sm_100a"]) == "sm_100a"
        assert covering_arch((12, 1), ["sm_120a"]) is None

    def test_ptx_counts_and_is_noted(self) -> None:
        # amithkk/stable-diffusion-k8s#10: an H100 with sm_37..sm_86 plus compute_37 PTX. The
        # driver can compile the PTX for sm_90, so the check passes, with a note: torch itself
        # warned about this build, and the compilation at first use is slow.
        arch_list = torch_arch_list(capture("torch-h100-arch-warning.txt"))
        assert covering_arch((9, 0), arch_list) == "compute_37"
        facts = GpuFacts(
            devices=[Gpu("NVIDIA H100 80GB HBM3", "535.129.03", "81559 MiB", (9, 0))],
            driver_cuda=(12, 2),
            image_cuda="11.3",
            image_cuda_source="torch.version.cuda",
            arch_list=arch_list,
        )
        assert gpu_problems(facts) == []
        assert covering_arch((9, 0), ["sm_80", "compute_80"]) == "compute_80"
        assert covering_arch((7, 5), ["sm_80", "compute_80"]) is None

    def test_gpu_problems_together(self) -> None:
        facts = GpuFacts(
            devices=[Gpu("NVIDIA H100 80GB HBM3", "535.129.03", "81559 MiB", (9, 0))],
            driver_cuda=driver_cuda_version(capture("h100-535.129.03.txt")),
            image_cuda="12.4.1",
            image_cuda_source="env CUDA_VERSION",
            arch_list=["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86"],
        )
        problems = gpu_problems(facts)
        assert len(problems) == 2
        assert "CUDA up to 12.2" in problems[0] and "sm_90" in problems[1]
        facts.arch_list = []
        assert "sees no CUDA" in gpu_problems(facts)[1]


def answers(table: dict[tuple[str, ...], tuple[int, str]]) -> Exec:
    """What the container answers to each command: the exec that inspect_gpu is given."""
    return lambda argv: table[tuple(argv)]


class TestInspectGpu:
    """inspect_gpu's use of what nvidia-smi and torch answer (no GPU here to ask)."""

    H100_QUERY = "9.0, 535.129.03, 81559 MiB, NVIDIA H100 80GB HBM3\n"  # the capture's values

    def test_driver_too_old_and_arch_missing(self) -> None:
        probe = json.dumps({"cuda": "12.4", "arch_list": ["sm_80", "sm_86"]})
        run = answers(
            {
                QUERY_COMMAND: (0, self.H100_QUERY),
                ("nvidia-smi",): (0, capture("h100-535.129.03.txt")),
                TORCH_PROBE: (0, f"some torch warning\n{probe}\n"),
            }
        )
        facts = inspect_gpu(run, ["PATH=/usr/bin"], {})
        assert facts.image_cuda == "12.4" and facts.image_cuda_source == "torch.version.cuda"
        assert facts.as_dict()["driver_cuda"] == "12.2"
        problems = gpu_problems(facts)
        assert "CUDA up to 12.2" in problems[0] and "CUDA 12.4 (torch.version.cuda)" in problems[0]
        assert "(sm_90)" in problems[1]

    # The B200 capture's values (its memory is what the table shows, 183359MiB).
    B200_QUERY = "10.0, 610.43.02, 183359 MiB, NVIDIA B200\n"

    def test_no_torch_in_the_image(self) -> None:
        run = answers(
            {
                QUERY_COMMAND: (0, self.B200_QUERY),
                ("nvidia-smi",): (0, capture("b200-610.43.02.txt")),
                TORCH_PROBE: (1, "ModuleNotFoundError: No module named 'torch'\n"),
            }
        )
        facts = inspect_gpu(run, ["CUDA_VERSION=12.4.1"], {})
        assert facts.arch_list is None and gpu_problems(facts) == []
        assert "no torch in the image: compute capability not checked" in facts.notes

    def test_torch_built_for_a_newer_cuda_than_the_image_declares(self) -> None:
        # torch 2.15.0 from PyPI (CUDA 13.2, its own wheels) on a CUDA 12.4 base, on the H100
        # capture's driver 535.129.03: torch's CUDA is what the driver has to run.
        probe = json.dumps({"cuda": "13.2", "arch_list": ["sm_80", "sm_90", "sm_100"]})
        run = answers(
            {
                QUERY_COMMAND: (0, self.H100_QUERY),
                ("nvidia-smi",): (0, capture("h100-535.129.03.txt")),
                TORCH_PROBE: (0, probe),
            }
        )
        facts = inspect_gpu(run, ["CUDA_VERSION=12.4.1"], {})
        assert facts.image_cuda == "13.2"
        assert facts.image_cuda_source == (
            "torch.version.cuda, the image declares 12.4.1 (env CUDA_VERSION)"
        )
        [problem] = gpu_problems(facts)
        assert "535.129.03 is older than 595.45.04, the minimum for CUDA 13.2 GA" in problem

    def test_no_nvidia_smi_in_the_container(self) -> None:
        missing = 'exec: "nvidia-smi": executable file not found in $PATH: unknown'
        with pytest.raises(CheckError, match=r"exit 127.*NVIDIA_DRIVER_CAPABILITIES"):
            inspect_gpu(answers({QUERY_COMMAND: (127, missing)}), [], {})


# --- samples: expected shapes and golden values -------------------------------------------------


SHAPE = {"predictions": [{"label": "str", "probability": "float"}], "version": "str"}


class TestSamples:
    def test_shape_matches_and_allows_extra_keys(self) -> None:
        body = {"predictions": [{"label": "a", "probability": 1, "x": 0}], "version": "1", "y": 2}
        assert shape_problems(body, SHAPE) == []

    def test_shape_problems_name_the_key_and_the_types(self) -> None:
        body = {
            "predictions": [{"label": "a", "probability": 0.1}, {"label": True}],
            "version": None,
        }
        assert shape_problems(body, SHAPE) == [
            "predictions[1].label: expected str, got bool true",
            "predictions[1]: missing key 'probability'",
            "version: expected str, got null null",
        ]
        assert shape_problems({"predictions": [], "version": "1"}, SHAPE) == [
            "predictions: expected a non-empty list, got a list of 0 items"
        ]
        assert shape_problems([1], SHAPE) == [
            "the response: expected an object, got a list of 1 items"
        ]
        assert shape_problems(True, "int") == ["the response: expected int, got bool true"]
        assert shape_problems(None, "any") == []

    def test_golden_values_within_tolerance(self) -> None:
        golden = {"predictions": [{"label": "churn", "probability": 0.95}], "model_version": "1"}
        body = {
            "predictions": [{"label": "churn", "probability": 0.9500001, "c": 1}],
            "model_version": "1",
        }
        assert golden_problems(body, golden, 1e-6) == []
        body["predictions"][0]["probability"] = 0.93
        assert golden_problems(body, golden, 1e-6) == [
            "predictions[0].probability: expected 0.95 ± 1e-06, got 0.93"
        ]
        assert golden_problems({"predictions": [], "model_version": 1}, golden, 1e-6) == [
            "predictions: expected a list of 1 items, got a list of 0 items",
            'model_version: expected "1", got int 1',
        ]
        assert golden_problems({"flag": 1}, {"flag": True}, 0.5) == [
            "flag: expected true, got int 1"
        ]

    def test_bad_expected_files_are_user_errors_naming_file_and_path(self, tmp_path: Path) -> None:
        (tmp_path / "a.json").write_text('{"instances": {}}')
        with pytest.raises(UserError, match=r"a\.json: no a\.expected\.json"):
            load_samples(tmp_path)
        (tmp_path / "a.expected.json").write_text('{"predictions": [{"label": "string"}]}')
        with pytest.raises(UserError, match=r'predictions\[\]\.label: "string" is not a type name'):
            load_samples(tmp_path)
        (tmp_path / "a.expected.json").write_text('{"predictions": ["str", "int"]}')
        with pytest.raises(UserError, match=r"predictions: a list shape holds exactly one"):
            load_samples(tmp_path)
        (tmp_path / "a.expected.json").write_text('{"predictions": ')
        with pytest.raises(UserError, match=r"a\.expected\.json:1:\d+: invalid JSON"):
            load_samples(tmp_path)
        with pytest.raises(UserError, match="is not a directory"):
            load_samples(tmp_path / "missing")

    def test_large_batch_repeats_instances(self) -> None:
        assert large_batch({"instances": {"a": 1}}, 3) == {"instances": [{"a": 1}] * 3}
        assert large_batch({"instances": [{"a": 1}, {"a": 2}]}, 3) == {
            "instances": [{"a": 1}, {"a": 2}, {"a": 1}]
        }
        assert large_batch({"inputs": "text"}, 3) is None


def test_junit_is_valid_xml_even_with_control_characters_in_the_logs() -> None:
    report = SmokeReport(
        image="x:1",
        checks=[
            Check("pull", seconds=0.5),
            Check("health", "failed", 1.0, 'the app said "no" <here>'),
            Check("latency", "skipped", message="not run: health failed"),
        ],
        logs_tail=["\x1b[31mERROR\x1b[0m boom\x00"],
    )
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    failure = suite.find("testcase[@name='health']/failure")
    assert failure is not None and failure.get("message") == 'the app said "no" <here>'
    assert "ERROR boom" in (failure.text or "")
    assert suite.find("testcase[@name='latency']/skipped") is not None


# --- against the engine -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry_path() -> str:
    return f"test-smoke-{uuid.uuid4().hex[:8]}"


def _build_and_push(
    client: docker.DockerClient, context: Path, ref: str, dockerfile: str = "Dockerfile"
) -> str:
    """Build `ref`, push it to the stack's registry and return its digest: the smoke test pulls,
    as a CI runner does (and the image survives another test wiping the local store)."""
    client.images.build(
        path=str(context), dockerfile=dockerfile, tag=ref, network_mode="host", rm=True
    )
    return push(ref, None).digest


def _remove_images(client: docker.DockerClient, refs: list[str]) -> None:
    import docker

    for ref in refs:
        with contextlib.suppress(docker.errors.DockerException):
            client.images.remove(ref)


@pytest.fixture(scope="module")
def fake_images(docker_client: docker.DockerClient, registry_path: str) -> Iterator[dict[str, str]]:
    """One image per case, each built once; values are `ref`, plus `ok@digest`."""
    refs = {}
    for case in CASES:
        ref = f"127.0.0.1:5000/{registry_path}/{case}:1"
        digest = _build_and_push(docker_client, DATA, ref, f"{case}/Dockerfile")
        refs[case] = ref
        if case == "ok":
            refs["ok@digest"] = f"127.0.0.1:5000/{registry_path}/ok@{digest}"
    yield refs
    _remove_images(docker_client, [refs[case] for case in CASES])


@pytest.fixture(scope="module")
def churn_image(docker_client: docker.DockerClient, registry_path: str) -> Iterator[str]:
    ref = f"127.0.0.1:5000/{registry_path}/churn:sha-test"
    _build_and_push(docker_client, EXAMPLE, ref)
    yield ref
    _remove_images(docker_client, [ref])


def write_project(path: Path, samples: Path = FAKE_SAMPLES, **smoke: object) -> Path:
    """A model project whose pipeline.yaml runs smoke with host networking (no bridge here)."""
    settings = {"network": "host", "samples_dir": str(samples), "requests": 5, **smoke}
    lines = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in settings.items())
    path.mkdir(parents=True, exist_ok=True)
    (path / "pipeline.yaml").write_text(f"smoke:\n{lines}", encoding="utf-8")
    return path


def smoke(
    capsys: pytest.CaptureFixture[str], project: Path, image: str, *extra: str
) -> tuple[int, dict[str, Any], str]:
    code = main(["smoke", "--json", "-C", str(project), "--image", image, *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def leftover_containers(client: docker.DockerClient) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"})]


@pytest.mark.stack
def test_the_example_passes(
    churn_image: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = write_project(
        tmp_path / "churn", EXAMPLE / "smoke", start_period=120, requests=20, grace_period=30
    )
    code, report, err = smoke(capsys, project, churn_image)

    assert code == 0, err
    assert report["passed"] is True and report["failure"] is None
    checks = {check["name"]: check for check in report["checks"]}
    assert list(checks) == [
        "pull",
        "start",
        "gpu",
        "health",
        "gpu-info",
        "sample batch",
        "sample single",
        "latency",
        "shutdown",
    ]
    # No NVIDIA runtime here: gpu auto falls back and says so.
    assert checks["gpu"]["status"] == "skipped"
    assert report["gpu"]["used"] is False
    assert report["gpu"]["note"].startswith("skipped (no NVIDIA runtime)")
    assert 'could not select device driver "" with capabilities: [[gpu]]' in report["gpu"]["note"]
    latency = report["latency_ms"]
    assert latency["requests"] == 20 and 0 < latency["p50"] <= latency["p95"] <= latency["max"]
    shutdown = checks["shutdown"]["details"]
    assert shutdown["exit_code"] == 0 and shutdown["request_status"] == 200
    assert shutdown["request_in_flight_at_sigterm"] is True
    assert report["url"].startswith("http://127.0.0.1:")

    written = json.loads((project / ".pipeline/smoke/report.json").read_text())
    assert written["passed"] is True and written["checks"] == report["checks"]
    suite = ET.parse(project / ".pipeline/smoke/junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert [case.get("name") for case in suite.iter("testcase")] == list(checks)
    assert suite.get("failures") == "0" and suite.get("skipped") == "2"
    assert report["container"] not in leftover_containers(docker_client)


@pytest.mark.stack
@pytest.mark.parametrize(
    ("case", "settings", "failed", "message"),
    [
        (
            "exits-on-start",
            {},
            "health",
            "the app stopped before /health answered 200 (the container exited with code 3)",
        ),
        (
            "never-healthy",
            {"start_period": 2},
            "health",
            '/health did not answer 200 within 2 s (last: 503 {"status": "loading"})',
        ),
        (
            "predict-500",
            {},
            "sample one",
            'POST /predict with one.json answered 500: {"detail": "model exploded"}',
        ),
        (
            "wrong-shape",
            {},
            "sample one",
            "the answer to one.json does not match one.expected.json: "
            "predictions[0].label: expected str, got int 1; "
            'predictions[0].probability: expected float, got str "high"',
        ),
        (
            "ignores-sigterm",
            {"grace_period": 2},
            "shutdown",
            "the container did not exit within smoke.grace_period (2 s) of SIGTERM",
        ),
    ],
)
def test_a_bad_image_fails_with_its_own_message(
    case: str,
    settings: dict[str, object],
    failed: str,
    message: str,
    fake_images: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = write_project(tmp_path / case, **{"start_period": 20, "grace_period": 10, **settings})
    code, report, err = smoke(capsys, project, fake_images[case])

    assert code == 2, err
    assert f"failed: {failed}: {message}" in err
    assert report["passed"] is False and report["failure"].startswith(f"{failed}: {message}")
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses[failed] == "failed"
    after = list(statuses)[list(statuses).index(failed) + 1 :]
    assert all(statuses[name] == "skipped" for name in after)
    assert report["logs_tail"], "the container's last log lines come with a failure"
    assert "last 50 lines" in err

    suite = ET.parse(project / ".pipeline/smoke/junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find(f"testcase[@name='{failed}']/failure")
    assert failure is not None and (failure.get("message") or "").startswith(message)
    assert report["container"] not in leftover_containers(docker_client)


@pytest.mark.stack
def test_exit_code_and_logs_of_an_early_exit(
    fake_images: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, report, err = smoke(capsys, write_project(tmp_path), fake_images["exits-on-start"])
    assert "fake: cannot load the model" in report["logs_tail"]
    assert "  fake: cannot load the model" in err


@pytest.mark.stack
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_removes_its_container(
    signum: signal.Signals,
    fake_images: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    image = fake_images["never-healthy"]
    mine = {"label": f"{LABEL}=1", "ancestor": image}
    command = [sys.executable, "-m", "pipeline", "smoke", "-C", str(write_project(tmp_path))]
    process = subprocess.Popen(
        [*command, "--image", image, "--no-pull", "--start-period", "120"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        deadline = time.monotonic() + 60
        while not docker_client.containers.list(filters={**mine, "status": "running"}):
            assert process.poll() is None and time.monotonic() < deadline, "no container started"
            time.sleep(0.1)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert not docker_client.containers.list(all=True, filters=mine)


@pytest.mark.stack
def test_gpu_required_without_nvidia_runtime_names_the_toolkit(
    fake_images: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = write_project(tmp_path)
    code, report, err = smoke(capsys, project, fake_images["ok"], "--gpu", "required")

    assert code == 2
    assert "NVIDIA Container Toolkit" in err
    assert "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/" in err
    assert 'could not select device driver "" with capabilities: [[gpu]]' in err
    assert report["failure"].startswith("start: gpu: required")
    assert not [name for name in leftover_containers(docker_client) if name == report["container"]]


@pytest.mark.stack
def test_run_smoke_by_digest_for_the_release_step(
    fake_images: dict[str, str], tmp_path: Path
) -> None:
    project = write_project(tmp_path, gpu="off")
    config = load_config(project)
    image = ImageRef.parse(fake_images["ok@digest"])
    report = run_smoke(config, Output(), image, resolve_target(config))

    assert report.passed and report.image == fake_images["ok@digest"]
    checks = {check.name: check for check in report.checks}
    assert checks["gpu"].status == "skipped" and checks["gpu"].message == "skipped (gpu: off)"
    assert checks["shutdown"].details["request_in_flight_at_sigterm"] is True
    assert report.report_path == project / ".pipeline/smoke/report.json"
    assert "✓ shutdown" in report.text() and "p50" in report.text()


@pytest.mark.stack
def test_golden_values(fake_images: dict[str, str], tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    for path in FAKE_SAMPLES.iterdir():
        (samples / path.name).write_bytes(path.read_bytes())
    golden = {"predictions": [{"label": "churn", "probability": 0.7501}], "model_version": "0.0.1"}
    (samples / "one.golden.json").write_text(json.dumps(golden))
    project = write_project(tmp_path / "project", samples, tolerance=0.001, requests=0)
    config = load_config(project)

    report = run_smoke(config, Output(), ImageRef.parse(fake_images["ok"]), resolve_target(config))
    sample = next(check for check in report.checks if check.name == "sample one")
    assert sample.message.endswith("golden values match")

    golden["predictions"][0]["probability"] = 0.8
    (samples / "one.golden.json").write_text(json.dumps(golden))
    with pytest.raises(SmokeFailed) as failed:
        run_smoke(config, Output(), ImageRef.parse(fake_images["ok"]), resolve_target(config))
    assert failed.value.exit_code == 2
    assert str(failed.value).endswith(
        "sample one: the answer to one.json differs from one.golden.json: "
        "predictions[0].probability: expected 0.8 ± 0.001, got 0.75"
    )
    assert failed.value.report.failure is not None


@pytest.mark.stack
def test_bad_input_is_a_user_error(
    fake_images: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "p")
    missing = fake_images["ok"].replace(":1", ":no-such-tag")
    code, _, err = smoke(capsys, project, missing)
    assert code == 1
    assert f"image {missing} is not in the registry 127.0.0.1:5000" in err
    suite = ET.parse(project / ".pipeline/smoke/junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.find("testcase[@name='pull']/failure") is not None

    code, _, err = smoke(capsys, project, "pipeline-smoke-test/absent:1", "--no-pull")
    assert code == 1 and "not in the local image store" in err

    no_samples = write_project(tmp_path / "q", tmp_path / "nowhere")
    code, _, err = smoke(capsys, no_samples, fake_images["ok"])
    assert code == 1 and "smoke.samples_dir" in err and "is not a directory" in err


@pytest.mark.stack
def test_the_project_env_reaches_the_container(
    fake_images: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The "ok" image turned bad by the project's own smoke.env.
    project = write_project(tmp_path, env={"FAKE_MODE": "predict-500"})
    code, report, _ = smoke(capsys, project, fake_images["ok"])
    assert code == 2 and report["failure"].startswith("sample one: POST /predict with one.json")


def test_volumes_are_read_only_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    smoke_config = load_config(tmp_path, overrides=[("smoke.volumes", "model=/models")]).smoke
    spec = container_spec(smoke_config, tmp_path, "x:1")
    assert spec.volumes == {str(tmp_path / "model"): {"bind": "/models", "mode": "ro"}}
    smoke_config = load_config(tmp_path, overrides=[("smoke.volumes", "model=/m:rw")]).smoke
    assert container_spec(smoke_config, tmp_path, "x:1").volumes[str(tmp_path / "model")] == {
        "bind": "/m",
        "mode": "rw",
    }
    for volumes, message in [("nothing=/m", "no such file"), ("model=/m:rx", "ro or rw")]:
        smoke_config = load_config(tmp_path, overrides=[("smoke.volumes", volumes)]).smoke
        with pytest.raises(UserError, match=message):
            container_spec(smoke_config, tmp_path, "x:1")


def test_default_image_is_the_candidate(git_project: Callable[..., Path]) -> None:
    import git

    project = git_project(EXAMPLE, "registry:\n  url: 127.0.0.1:5000/team\n")
    config = load_config(project)
    sha = git.Repo(project).head.commit.hexsha
    expected = f"127.0.0.1:5000/team/{project.name}:sha-{sha[:7]}"
    source = build_source(config, read_build_context(config, "a test"), "a test")
    assert str(candidate(resolve_target(config).repository, source)) == expected
