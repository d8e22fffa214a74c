"""What accelerators the serving process can see, for /gpu-info."""

from __future__ import annotations

from typing import Any


def probe_gpus() -> dict[str, Any]:
    """Ask the first importable framework that sees GPUs: torch, then TensorFlow.

    Frameworks are imported here, not at module load, because importing them is slow and most
    CPU images ship neither.
    """
    try:
        import torch
    except ImportError:
        pass
    else:
        available = bool(torch.cuda.is_available())
        count = int(torch.cuda.device_count()) if available else 0
        names = [str(torch.cuda.get_device_name(index)) for index in range(count)]
        return {
            "cuda_available": available,
            "device_count": count,
            "devices": names,
            # The CUDA torch was built for: what the host's driver must support.
            "torch": str(torch.__version__),
            "torch_cuda": torch.version.cuda,
        }
    try:
        import tensorflow as tf
    except ImportError:
        return {"cuda_available": False}
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "cuda_available": bool(gpus),
        "device_count": len(gpus),
        "devices": [str(gpu.name) for gpu in gpus],
    }
