"""What a build sends to the engine, read once and handed to every step that looks at it.

The ignore file is parsed and the context walked here, once per command (in a release, once per
step that looks): the secret scan, the patch's fingerprint, the patch, the dirty-tree check
(`worktree`) and lint all take this value instead of reading the project again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.project.dockerignore import DockerIgnore, context_files, find_dockerignore


@dataclass(frozen=True)
class BuildContext:
    dockerfile: Path
    context: Path
    ignore_file: Path | None  # the ignore file the build reads, if any
    ignore: DockerIgnore
    files: tuple[str, ...]  # the context's files the engine receives: relative, "/"-separated
    # The files sent that differ from HEAD, repository-relative (`worktree.read_build_context`);
    # None where nothing was compared with git (lint, a Dockerfile outside the project).
    changes: tuple[str, ...] | None = None


def read_context(dockerfile: Path, context: Path) -> BuildContext:
    """A build of `dockerfile` in `context` as the engine would receive it."""
    ignore_file = find_dockerignore(dockerfile, context)
    ignore = DockerIgnore.read(ignore_file)
    files = tuple(context_files(context, ignore))
    return BuildContext(dockerfile, context, ignore_file, ignore, files)
