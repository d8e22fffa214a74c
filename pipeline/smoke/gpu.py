"""GPU facts from inside the container: nvidia-smi parsing, the driver against the minimum for the
image's CUDA (NVIDIA's table, pipeline/cuda/drivers.py), and the GPU's compute capability against
the architectures torch was built for.

The parsers and checks are pure functions, tested against captured real nvidia-smi output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.cuda.drivers import TABLE_SOURCE, minimum_driver, parse_driver
from pipeline.cuda.versions import Version, format_version, parse_version
from pipeline.smoke.checks import CheckError

# Runs argv inside the container; returns (exit code, stdout and stderr together).
Exec = Callable[[Sequence[str]], tuple[int, str]]

# `name` goes last: the last field takes any extra commas, and product names may contain them.
QUERY_FIELDS = ("compute_cap", "driver_version", "memory.total", "name")
QUERY_COMMAND = ("nvidia-smi", f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader")
TORCH_PROBE = (
    "python",
    "-c",
    "import json, torch; "
    "print(json.dumps({'cuda': torch.version.cuda, 'arch_list': torch.cuda.get_arch_list()}))",
)

# R610 drivers renamed the header's "CUDA Version" to "CUDA UMD Version".
_DRIVER_CUDA = re.compile(r"CUDA (?:UMD )?Version:\s*(\d+\.\d+)")
_REQUIRE_CUDA = re.compile(r"cuda>=(\d+\.\d+)")
# sm_90, sm_100, sm_90a, compute_120: the last digit is the minor version.
_ARCH = re.compile(r"(sm|compute)_(\d+)(\d)([af]?)")
CUDA_LABEL = "com.nvidia.cuda.version"


@dataclass(frozen=True)
class Gpu:
    name: str
    driver_version: str | None
    memory_total: str | None
    compute_capability: Version | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "driver_version": self.driver_version,
            "memory_total": self.memory_total,
            "compute_capability": format_version(self.compute_capability),
        }


@dataclass
class GpuFacts:
    devices: list[Gpu]
    driver_cuda: Version | None
    image_cuda: str | None = None
    image_cuda_source: str | None = None
    arch_list: list[str] | None = None  # None: torch is not in the image
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "devices": [gpu.as_dict() for gpu in self.devices],
            "driver_cuda": format_version(self.driver_cuda),
            "image_cuda": self.image_cuda,
            "image_cuda_source": self.image_cuda_source,
            "torch_arch_list": self.arch_list,
            "notes": self.notes,
        }


def parse_gpu_query(text: str, fields: Sequence[str] = QUERY_FIELDS) -> list[Gpu]:
    """`nvidia-smi --query-gpu=FIELDS --format=csv[,noheader]`: one Gpu per row."""
    gpus = []
    for line in filter(str.strip, text.splitlines()):
        values = [value.strip() for value in line.split(",", len(fields) - 1)]
        if len(values) != len(fields):
            raise ValueError(f"unexpected nvidia-smi output line {line!r}")
        row = dict(zip(fields, values, strict=True))
        # With --format=csv the first row names the fields, with units: "memory.total [MiB]".
        if all(value.split(" [")[0] == key for key, value in row.items()):
            continue
        gpus.append(
            Gpu(
                name=row.get("name", ""),
                driver_version=row.get("driver_version"),
                memory_total=row.get("memory.total"),
                compute_capability=parse_version(row.get("compute_cap", "")),
            )
        )
    return gpus


def driver_cuda_version(nvidia_smi_output: str) -> Version | None:
    """The highest CUDA version the driver supports, from plain `nvidia-smi`'s header."""
    match = _DRIVER_CUDA.search(nvidia_smi_output)
    return parse_version(match[1]) if match else None


def image_cuda_version(env: Sequence[str], labels: Mapping[str, str]) -> tuple[str, str] | None:
    """The CUDA version the image is built for, and where that was read."""
    variables = dict(item.partition("=")[::2] for item in env)
    if variables.get("CUDA_VERSION"):
        return variables["CUDA_VERSION"], "env CUDA_VERSION"
    if labels.get(CUDA_LABEL):
        return labels[CUDA_LABEL], f"label {CUDA_LABEL}"
    # nvidia/cuda images state their minimum driver CUDA as NVIDIA_REQUIRE_CUDA="cuda>=12.4 ...".
    match = _REQUIRE_CUDA.search(variables.get("NVIDIA_REQUIRE_CUDA", ""))
    if match:
        return match[1], "env NVIDIA_REQUIRE_CUDA"
    return None


def driver_problem(
    driver_cuda: Version | None, image_cuda: str, source: str, driver: str | None = None
) -> str | None:
    """Whether the host's driver is too old for the CUDA the image is built for.

    The driver's own version against NVIDIA's minimum for that CUDA release decides where both
    are known: it also tells updates apart (12.2 Update 2 needs 535.104.05, 12.2 GA 535.54.03),
    which the "CUDA Version" in nvidia-smi's header does not. The header is the fallback.
    """
    needed = parse_version(image_cuda)
    if needed is None:
        return None
    supports = f"supports CUDA up to {format_version(driver_cuda)}" if driver_cuda else ""
    installed = parse_driver(driver or "")
    minimum = minimum_driver(image_cuda)
    if installed and minimum:
        least, release = minimum
        if installed >= (parse_driver(least) or ()):
            return None
        why = f"is older than {least}, the minimum for {release} ({TABLE_SOURCE})"
        host = f"the NVIDIA driver {driver} {why}" + (f" and {supports}" if supports else "")
    elif driver_cuda is not None and needed > driver_cuda:
        host = f"the NVIDIA driver {supports}"
    else:
        return None
    return (
        f"{host} but the image is built for CUDA {image_cuda} ({source}); update the driver on "
        "this runner or build on an older CUDA base image"
    )


def covering_arch(capability: Version, arch_list: Sequence[str]) -> str | None:
    """The entry of torch's arch list that runs on a GPU of `capability`, if any.

    CUDA's compatibility rules: SASS for sm_XY runs on X.Z for every Z >= Y (the `a` variants
    only on X.Y itself); PTX compute_XY is compiled by the driver for any capability >= X.Y.
    Native code is preferred: PTX is compiled at first use, which can take minutes.
    """
    sass, ptx = [], []
    for entry in arch_list:
        match = _ARCH.fullmatch(entry)
        if not match:
            continue
        kind, built, variant = match[1], (int(match[2]), int(match[3])), match[4]
        if kind == "compute":
            if built <= capability:
                ptx.append(entry)
        elif built == capability or (
            variant != "a" and built[0] == capability[0] and built[1] <= capability[1]
        ):
            sass.append(entry)
    found = sass or ptx
    return found[-1] if found else None


def arch_problem(gpu: Gpu, arch_list: Sequence[str]) -> str | None:
    capability = gpu.compute_capability
    if capability is None or covering_arch(capability, arch_list):
        return None
    sm = f"sm_{capability[0]}{capability[1]}"
    return (
        f"{gpu.name} has compute capability {format_version(capability)} ({sm}), which the "
        f"image's torch was not built for (its arch list: {' '.join(arch_list)}); "
        f"install a torch build that includes {sm}"
    )


def inspect_gpu(run: Exec, image_env: Sequence[str], image_labels: Mapping[str, str]) -> GpuFacts:
    """Ask nvidia-smi (and torch, where the image has it) inside the running container."""
    code, output = run(QUERY_COMMAND)
    if code != 0:
        hint = (
            "; the NVIDIA runtime mounts it when NVIDIA_DRIVER_CAPABILITIES includes utility"
            if code in (126, 127)
            else ""
        )
        raise CheckError(f"nvidia-smi failed in the container (exit {code}): {_last(output)}{hint}")
    try:
        devices = parse_gpu_query(output)
    except ValueError as exc:
        raise CheckError(str(exc)) from exc
    if not devices:
        raise CheckError("nvidia-smi lists no GPU inside the container")
    _, header = run(("nvidia-smi",))
    facts = GpuFacts(devices=devices, driver_cuda=driver_cuda_version(header))
    torch = _torch_probe(run)
    found = image_cuda_version(image_env, image_labels)
    torch_cuda = str(torch["cuda"]) if torch and torch.get("cuda") else None
    # torch brings its own CUDA (PyPI's nvidia-* wheels): a build newer than the CUDA the image
    # declares is what the driver has to support.
    if torch_cuda and (
        found is None or (parse_version(torch_cuda) or (0, 0)) > (parse_version(found[0]) or (0, 0))
    ):
        declared = f", the image declares {found[0]} ({found[1]})" if found else ""
        found = torch_cuda, f"torch.version.cuda{declared}"
    if found:
        facts.image_cuda, facts.image_cuda_source = found
    if torch is not None:
        facts.arch_list = [str(entry) for entry in torch.get("arch_list") or []]
    _explain(facts)
    return facts


def gpu_problems(facts: GpuFacts) -> list[str]:
    problems = []
    if facts.image_cuda and facts.image_cuda_source:
        # One driver serves every GPU of the host.
        driver = facts.devices[0].driver_version if facts.devices else None
        problem = driver_problem(
            facts.driver_cuda, facts.image_cuda, facts.image_cuda_source, driver
        )
        if problem:
            problems.append(problem)
    if facts.arch_list == []:
        problems.append(
            "torch in the image sees no CUDA (torch.cuda.get_arch_list() is empty): a CPU-only "
            "torch build, or CUDA failed to initialise"
        )
    elif facts.arch_list is not None:
        problems += filter(None, (arch_problem(gpu, facts.arch_list) for gpu in facts.devices))
    return problems


def _explain(facts: GpuFacts) -> None:
    """Notes on what could not be checked, or was only just covered."""
    if facts.driver_cuda is None:
        facts.notes.append("nvidia-smi did not state the driver's CUDA version")
    if facts.image_cuda is None:
        facts.notes.append("the image states no CUDA version (CUDA_VERSION, label, torch)")
    elif minimum_driver(facts.image_cuda) is None:
        facts.notes.append(
            f"CUDA {facts.image_cuda} is not in {TABLE_SOURCE} (pipeline/cuda/drivers.py): "
            "the driver was checked against the CUDA version nvidia-smi states"
        )
    if facts.arch_list is None:
        facts.notes.append("no torch in the image: compute capability not checked")
        return
    for gpu in facts.devices:
        if gpu.compute_capability is None:
            continue
        entry = covering_arch(gpu.compute_capability, facts.arch_list)
        if entry and entry.startswith("compute_"):
            facts.notes.append(
                f"{gpu.name}: torch has no native code for it, only PTX {entry}, compiled by the "
                "driver at first use (slow start; torch itself warns about such builds)"
            )


def _torch_probe(run: Exec) -> dict[str, Any] | None:
    """torch's CUDA version and arch list; None when the image has no torch (or no python)."""
    code, output = run(TORCH_PROBE)
    if code in (126, 127) or "No module named 'torch'" in output:
        return None
    if code != 0:
        raise CheckError(f"importing torch in the container failed: {_last(output)}")
    # torch may print warnings first; the probe's JSON is the last line.
    try:
        probe: dict[str, Any] = json.loads(_last(output))
    except json.JSONDecodeError as exc:
        raise CheckError(f"unexpected output from the torch probe: {_last(output)!r}") from exc
    return probe


def _last(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"
