"""The build context as the engine receives it, read once per command: `.dockerignore` with
Docker's semantics, the walk it prunes, and (in real git repositories) what differs from HEAD.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config.schema import load_config
from pipeline.core.errors import UserError
from pipeline.project.buildcontext import read_context
from pipeline.project.dockerignore import DockerIgnore, context_files
from pipeline.project.worktree import read_build_context


def write(path: Path, text: str = "x\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- .dockerignore, as Docker reads it ------------------------------------------------------


DOCKERIGNORE_CASES = [
    # (patterns, path, excluded) as Docker (moby/patternmatcher) decides
    (".env", ".env", True),
    (".env", "app/.env", False),
    ("**/.env", "app/deep/.env", True),
    ("**/.env", ".env", True),
    ("data", "data/raw/x.csv", True),
    ("*.md", "docs/a.md", False),
    ("*/*.md", "docs/a.md", True),
    ("docs/**/*.md", "docs/a.md", True),
    ("docs/**", "docs", False),
    ("/checkpoints", "checkpoints/epoch1.pt", True),
    ("./x/../models", "models/m.bin", True),
    ("**.bin", "deep/w.bin", True),
    ("**foo", "barfoo", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[a-c].txt", "b.txt", True),
    ("model.(v1)", "model.(v1)", True),
    ("*.md\n!README.md", "README.md", False),
    ("!README.md\n*.md", "README.md", True),
    ("keys\n!keys/public.pem", "keys/public.pem", False),
    ("keys\n!keys/public.pem", "keys/private.pem", True),
    ("# .env\n", ".env", False),
    (" # odd", " # odd", False),
    (" # odd", "# odd", True),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), DOCKERIGNORE_CASES)
def test_dockerignore_matches_like_docker(patterns: str, path: str, excluded: bool) -> None:
    assert DockerIgnore.parse(patterns).excludes(path) is excluded


def test_context_walk_skips_excluded_directories_unless_an_exception_reaches_in(
    tmp_path: Path,
) -> None:
    for name in ["a.py", ".git/config", "node_modules/x/y.js", "data/keep.txt", "data/big.bin"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    ignore = DockerIgnore.parse(".git\nnode_modules\ndata\n!data/keep.txt\n")
    assert list(context_files(tmp_path, ignore)) == ["a.py", "data/keep.txt"]
    assert ignore.may_reinclude_below("data") and not ignore.may_reinclude_below(".git")


# --- the value ------------------------------------------------------------------------------


def test_the_files_are_what_the_engine_receives(tmp_path: Path) -> None:
    write(tmp_path / "Dockerfile", "FROM scratch\nCOPY . /app\n")
    write(tmp_path / ".dockerignore", ".git\ndata\n!data/keep.txt\n**/*.log\n")
    for name in ["app.py", "data/big.bin", "data/keep.txt", "logs/run.log", "src/a.py"]:
        write(tmp_path / name)

    build = read_context(tmp_path / "Dockerfile", tmp_path)

    assert build.ignore_file == tmp_path / ".dockerignore"
    assert build.ignore == DockerIgnore.read(tmp_path / ".dockerignore")
    assert build.files == (".dockerignore", "Dockerfile", "app.py", "data/keep.txt", "src/a.py")
    assert build.changes is None  # nothing was compared with git


def test_changes_are_the_sent_files_git_does_not_hold(
    git_project: Callable[..., Path], tmp_path: Path
) -> None:
    source = tmp_path / "src"
    write(source / "Dockerfile", "FROM scratch\nCOPY . /app\n")
    write(source / ".dockerignore", ".git\ndata\n!data/keep.txt\n")
    write(source / ".gitignore", "weights/\n")
    write(source / "app.py")
    write(source / "data" / "keep.txt")
    project = git_project(source)
    write(project / "app.py", "edited\n")  # tracked, edited
    write(project / "new.py")  # untracked
    write(project / "data" / "raw.csv")  # never sent (.dockerignore)
    write(project / "data" / "keep.txt", "edited\n")  # sent again by the `!` line
    write(project / "weights" / "w.bin")  # gitignored: sent, but no edit of the commit

    build = read_build_context(load_config(project), "a test")

    assert build.changes == ("app.py", "data/keep.txt", "new.py")
    assert "weights/w.bin" in build.files and "data/raw.csv" not in build.files


def test_a_dockerfile_outside_the_context_is_sent_with_its_own_ignore_file(
    git_project: Callable[..., Path], tmp_path: Path
) -> None:
    source = tmp_path / "src"
    write(source / "docker" / "Dockerfile", "FROM scratch\nCOPY . /app\n")
    write(source / "docker" / "Dockerfile.dockerignore", "secret.txt\n")
    write(source / "docker" / "pipeline.yaml", "project:\n  context: ../app\n")
    write(source / "app" / "app.txt")
    write(source / "app" / "secret.txt")
    repo = git_project(source, name="repo")
    project = repo / "docker"
    write(project / "Dockerfile", "FROM scratch\nCOPY app.txt /app/\n")
    write(project / "Dockerfile.dockerignore", "secret.txt\n*.md\n")
    write(repo / "app" / "secret.txt", "edited\n")  # left out by the ignore file beside it
    write(repo / "README.md")  # outside the context

    build = read_build_context(load_config(project), "a test")

    assert build.ignore_file == project / "Dockerfile.dockerignore"
    assert build.files == ("app.txt",)
    assert build.changes == ("docker/Dockerfile", "docker/Dockerfile.dockerignore")


def test_outside_a_repository_the_error_says_what_needs_one(tmp_path: Path) -> None:
    write(tmp_path / "Dockerfile", "FROM scratch\n")
    with pytest.raises(UserError, match="not in a git repository with a commit; a test needs it"):
        read_build_context(load_config(tmp_path), "a test needs it")
