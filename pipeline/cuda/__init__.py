"""CUDA facts both lint and smoke read: versions, NVIDIA's minimum drivers, torch's wheels.

Facts only: running nvidia-smi and probing torch in a container are the smoke test's.
"""
