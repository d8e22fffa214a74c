"""Sizes as people write them (`2GB`, `1.5GiB`) and as we print them (`1.1 GB`)."""

from __future__ import annotations

import re

from pipeline.core.errors import UserError

UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
}


def parse_size(text: str) -> int:
    """`2GB`, `1.5GiB`, `500MB` or plain bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMG]I?B|B)?\s*", text, re.IGNORECASE)
    if not match:
        raise UserError(f"{text!r} is not a size such as 2GB or 500MiB")
    return int(float(match.group(1)) * UNITS[(match.group(2) or "").upper()])


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(size) >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"
