"""What torch's wheels from PyPI weigh, where it was measured rather than guessed.

Measured 2026-12-01 on Linux x86_64, CPython 3.11, through this project's CI proxy:
`pip download torch==2.15.0` (3.00 GB in 53.5 s; the torch wheel alone, --no-deps, 539 MB in
7.6 s), then `pip install` into an empty venv and the sizes each distribution's RECORD lists.
torch 2.15.0 requires `cuda-toolkit[...]==13.2.2`: a CUDA 13.2 Update 2 build.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.cuda.versions import Version


@dataclass(frozen=True)
class TorchWheels:
    cuda: Version  # the CUDA the PyPI wheel is built for
    torch_installed: int  # bytes, the torch distribution alone
    cuda_installed: int  # bytes, its nvidia-* and cuda-* wheels (18 distributions)
    download: int  # bytes, every wheel `pip download torch==VERSION` fetches


MEASURED: dict[str, TorchWheels] = {
    "2.15.0": TorchWheels(
        cuda=(13, 2),
        torch_installed=1_143_137_639,
        cuda_installed=3_227_951_745,
        download=3_000_151_922,
    ),
}
