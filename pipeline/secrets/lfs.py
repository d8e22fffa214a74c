"""Git LFS pointer files in a build context: weights that were never fetched.

A checkout without LFS (no `git lfs` installed, `GIT_LFS_SKIP_SMUDGE=1`, CI's checkout without
`lfs: true`) leaves a small text file where the weights should be; the image would ship it and
the model label would hash it, and only the smoke test, after the push, could notice. Found by
content, as git-lfs writes it (the spec's first line, then `oid` and `size`), not by
`.gitattributes`, which may not name every path.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.errors import CheckFailed
from pipeline.project.buildcontext import BuildContext

# https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md: a pointer is under 1024 bytes.
POINTER_LIMIT = 1024
SPEC_LINE = b"version https://git-lfs.github.com/spec/v1\n"
SHOWN = 5


def is_pointer(path: Path) -> bool:
    try:
        if path.stat().st_size >= POINTER_LIMIT:
            return False
        text = path.read_bytes()
    except OSError:
        return False
    return text.startswith(SPEC_LINE) and b"\noid sha256:" in text and b"\nsize " in text


def lfs_pointers(build: BuildContext) -> list[str]:
    """The context's files that are LFS pointers, relative to the context, in path order."""
    return [name for name in sorted(build.files) if is_pointer(build.context / name)]


def check_lfs_pointers(build: BuildContext) -> None:
    """The build step's gate: raises CheckFailed (exit 2) before anything is built or pushed."""
    found = lfs_pointers(build)
    if not found:
        return
    shown = ", ".join(found[:SHOWN]) + (
        f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    )
    raise CheckFailed(
        f"the build context holds {len(found)} Git LFS pointer file(s) instead of their content "
        f"({shown}); nothing was built: run `git lfs install && git lfs pull` in the repository "
        "(CI: fetch LFS objects at checkout, e.g. actions/checkout with `lfs: true`, GitLab's "
        "GIT_LFS_SKIP_SMUDGE unset)"
    )
