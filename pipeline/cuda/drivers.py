"""The minimum Linux x86_64 NVIDIA driver for each CUDA toolkit release.

Source: NVIDIA CUDA Toolkit Release Notes, Table 3 "CUDA Toolkit and Corresponding Driver
Versions" (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html), as published
with CUDA 13.2 Update 2. Keys are (major, minor, update): CUDA 12.4 Update 1 is 12.4.1, which is
also how nvidia/cuda images spell it (CUDA_VERSION=12.4.1). Releases before 11.1 are left out:
no current framework build targets them (and 11.0 numbered its GA 11.0.2).

With CUDA's minor version compatibility an application built for 12.x can start on any 12.x
driver (>= 525.60.13) as long as it uses no newer feature and no PTX JIT; torch's wheels JIT
PTX for GPUs they have no native code for, so the smoke test asks for the full minimum.
"""

from __future__ import annotations

import re

DriverVersion = tuple[int, ...]
CudaRelease = tuple[int, int, int]

TABLE_SOURCE = "NVIDIA CUDA Toolkit Release Notes, Table 3"
MINIMUM_DRIVER: dict[CudaRelease, str] = {
    (13, 2, 2): "595.71.05",
    (13, 2, 1): "595.58.03",
    (13, 2, 0): "595.45.04",
    (13, 1, 1): "590.48.01",
    (13, 1, 0): "590.44.01",
    (13, 0, 2): "580.95.05",
    (13, 0, 1): "580.82.07",
    (13, 0, 0): "580.65.06",
    (12, 9, 1): "575.57.08",
    (12, 9, 0): "575.51.03",
    (12, 8, 1): "570.124.06",
    (12, 8, 0): "570.26",
    (12, 6, 3): "560.35.05",
    (12, 6, 2): "560.35.03",
    (12, 6, 1): "560.35.03",
    (12, 6, 0): "560.28.03",
    (12, 5, 1): "555.42.06",
    (12, 5, 0): "555.42.02",
    (12, 4, 1): "550.54.15",
    (12, 4, 0): "550.54.14",
    (12, 3, 1): "545.23.08",
    (12, 3, 0): "545.23.06",
    (12, 2, 2): "535.104.05",
    (12, 2, 1): "535.86.09",
    (12, 2, 0): "535.54.03",
    (12, 1, 1): "530.30.02",
    (12, 1, 0): "530.30.02",
    (12, 0, 1): "525.85.12",
    (12, 0, 0): "525.60.13",
    (11, 8, 0): "520.61.05",
    (11, 7, 1): "515.48.07",
    (11, 7, 0): "515.43.04",
    (11, 6, 2): "510.47.03",
    (11, 6, 1): "510.47.03",
    (11, 6, 0): "510.39.01",
    (11, 5, 2): "495.29.05",
    (11, 5, 1): "495.29.05",
    (11, 5, 0): "495.29.05",
    (11, 4, 4): "470.82.01",
    (11, 4, 3): "470.82.01",
    (11, 4, 2): "470.57.02",
    (11, 4, 1): "470.57.02",
    (11, 4, 0): "470.42.01",
    (11, 3, 1): "465.19.01",
    (11, 3, 0): "465.19.01",
    (11, 2, 2): "460.32.03",
    (11, 2, 1): "460.32.03",
    (11, 2, 0): "460.27.03",
    (11, 1, 1): "455.32",
    (11, 1, 0): "455.23",
}


def parse_driver(text: str) -> DriverVersion | None:
    """`535.104.05` -> (535, 104, 5); None for what is not a driver version."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)*)\s*", text)
    return tuple(int(part) for part in match[1].split(".")) if match else None


def minimum_driver(cuda: str) -> tuple[str, str] | None:
    """The minimum driver for CUDA `cuda` ("12.4.1", "12.4", "13.2"), and the release it is for.

    A version without its update number ("12.4", torch.version.cuda's spelling) is read as
    the GA release: the smallest requirement the toolkit line has.
    """
    parts = [int(part) for part in re.findall(r"\d+", cuda)[:3]]
    if len(parts) < 2:
        return None
    release = (parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
    if release in MINIMUM_DRIVER:
        return MINIMUM_DRIVER[release], _name(release)
    # An update the table has no row for (13.2.3 published later): the newest row of its line.
    line = sorted(r for r in MINIMUM_DRIVER if r[:2] == release[:2] and r[2] <= release[2])
    return (MINIMUM_DRIVER[line[-1]], _name(line[-1])) if line else None


def _name(release: CudaRelease) -> str:
    major, minor, update = release
    return f"CUDA {major}.{minor} " + (f"Update {update}" if update else "GA")
