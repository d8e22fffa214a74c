"""Git LFS pointers in the build context stop the build before anything is built or pushed.

With a real `git lfs` repository (Debian's git-lfs, which the stack's setup installs): a clone
made with GIT_LFS_SKIP_SMUDGE=1 holds the pointer; after `git lfs pull` it holds the weights.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipeline.project.buildcontext import read_context
from pipeline.secrets.lfs import is_pointer, lfs_pointers
from tests.support.project import GIT_IDENTITY, run_pipeline

WEIGHTS = bytes(range(256)) * 64  # 16 KiB, more than any pointer


def git(cwd: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_IDENTITY, **env},
    )
    return done.stdout


@pytest.fixture
def lfs_origin(tmp_path: Path) -> Path:
    """A repository whose model weights are in LFS; `.gitattributes` names only `*.bin`."""
    origin = tmp_path / "origin"
    (origin / "model").mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    git(origin, "lfs", "install", "--local")
    git(origin, "lfs", "track", "model/*.bin")
    (origin / "model" / "weights.bin").write_bytes(WEIGHTS)
    (origin / "Dockerfile").write_text("FROM scratch\nCOPY model /model\n")
    (origin / "pipeline.yaml").write_text("image:\n  name: 127.0.0.1:5000/lfs/model\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "weights in LFS")
    return origin


@pytest.mark.stack
def test_a_pointer_stops_the_build_and_the_fetched_object_passes(
    stack, lfs_origin: Path, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"file://{lfs_origin}", str(clone), GIT_LFS_SKIP_SMUDGE="1")
    weights = clone / "model" / "weights.bin"
    assert is_pointer(weights) and weights.stat().st_size < 200

    result = run_pipeline(clone, "build")

    assert result.returncode == 2, result.stderr
    assert "1 Git LFS pointer file(s) instead of their content (model/weights.bin)" in (
        result.stderr
    )
    assert "git lfs pull" in result.stderr and "Traceback" not in result.stderr

    git(clone, "lfs", "install", "--local")
    git(clone, "lfs", "pull")
    assert weights.read_bytes() == WEIGHTS
    assert lfs_pointers(read_context(clone / "Dockerfile", clone)) == []


def test_a_pointer_is_found_by_content_whatever_its_name(tmp_path: Path) -> None:
    pointer = (
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345\n"
    )
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "tokenizer.json").write_text(pointer)  # no .gitattributes names it
    (tmp_path / "notes.md").write_text("version https://git-lfs.github.com/spec/v1 is a spec\n")
    assert lfs_pointers(read_context(tmp_path / "Dockerfile", tmp_path)) == ["tokenizer.json"]
