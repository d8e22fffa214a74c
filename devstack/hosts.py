"""/etc/hosts lines that point the cloud registry names at their loopback stand-ins."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pipeline.core.errors import UserError

HOSTS_FILE = Path("/etc/hosts")
MARKER = "# pipeline-devstack"


def _our_lines(mapping: Mapping[str, str]) -> list[str]:
    return [f"{address} {host} {MARKER}" for host, address in sorted(mapping.items())]


def _rewrite(path: Path, lines: list[str]) -> None:
    # In place, never rename: in a container /etc/hosts is a bind mount.
    with open(path, "r+") as handle:
        handle.seek(0)
        handle.write("".join(line + "\n" for line in lines))
        handle.truncate()


def ensure(mapping: Mapping[str, str], path: Path = HOSTS_FILE) -> bool:
    """Make our marked lines exactly `mapping`; True when the file had to change."""
    current = path.read_text().splitlines()
    ours = [line for line in current if line.rstrip().endswith(MARKER)]
    wanted = _our_lines(mapping)
    if ours == wanted:
        return False
    if not os.access(path, os.W_OK):
        names = ", ".join(f"{address} {host}" for host, address in sorted(mapping.items()))
        raise UserError(f"cannot write {path}; run `up` as root, or add these lines: {names}")
    kept = [line for line in current if not line.rstrip().endswith(MARKER)]
    _rewrite(path, kept + wanted)
    return True


def remove(path: Path = HOSTS_FILE) -> bool:
    current = path.read_text().splitlines()
    kept = [line for line in current if not line.rstrip().endswith(MARKER)]
    if kept == current:
        return False
    _rewrite(path, kept)
    return True
