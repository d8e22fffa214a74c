"""CUDA versions as (major, minor): `12.4`, `12.4.1` and nvidia-smi's `9.0` compute capability."""

from __future__ import annotations

import re

Version = tuple[int, int]


def parse_version(text: str) -> Version | None:
    match = re.match(r"\s*(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def format_version(version: Version | None) -> str | None:
    return None if version is None else f"{version[0]}.{version[1]}"
