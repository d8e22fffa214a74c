"""Whether an image built now is exactly its commit: what the build sends, against HEAD.

What counts is what reaches the builder: the build context after `.dockerignore` (Docker's
matching), the Dockerfile and the ignore file, wherever they live. A file there differs from
the commit when it is modified, staged, deleted, or untracked. Gitignored files do not count:
the project says with .gitignore that they live outside git on purpose (weights fetched by DVC
or a CI step, generated files), so they are no edit of the commit; weights are pinned by the
`io.ml-release-pipeline.model.sha256` label instead, and what must stay out of the image
belongs in .dockerignore. The pipeline's own `.pipeline/` directory (release state, smoke
reports) never counts either: the release writes it itself, before its build step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from pipeline.config.schema import STATE_DIR, Config
from pipeline.core.errors import UserError
from pipeline.project.buildcontext import BuildContext, read_context
from pipeline.project.gitinfo import GitInfo, git_info, open_repo

SHOWN_PATHS = 5


def first_few(paths: Sequence[str], shown: int = SHOWN_PATHS) -> str:
    """`a, b, c and 4 more`: a message names some paths and counts the rest."""
    extra = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {extra} more" if extra > 0 else "")


def read_build_context(config: Config, needed_for: str) -> BuildContext:
    """The project's build context with what differs from HEAD, from one `git status`; a
    UserError naming `needed_for` outside a repository with a commit."""
    build = read_context(
        config.path(config.project.dockerfile), config.path(config.project.context)
    )
    return dataclasses.replace(build, changes=_changes(config, build, needed_for))


def _changes(config: Config, build: BuildContext, needed_for: str) -> tuple[str, ...]:
    import git

    repo = open_repo(config.project_dir, needed_for)
    root = Path(str(repo.working_tree_dir)).resolve()
    context = build.context.resolve()
    always_sent = {path.resolve() for path in (build.dockerfile, build.ignore_file) if path}
    pathspecs = [str(context), *(str(path) for path in always_sent)]
    own = config.project_dir.resolve() / STATE_DIR
    try:
        # -z: names exactly as stored (no quoting); repository-relative whatever the cwd.
        status = repo.git.status(
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            *pathspecs,
            f":(exclude){own}",
        )
    except git.GitCommandError as exc:
        raise UserError(
            f"project.context: {context} is not inside the repository {root}; an image is "
            "labelled with a commit, so build from a context git holds"
        ) from exc
    changed = []
    for entry in filter(None, status.split("\0")):
        relative = entry[3:]
        path = root / relative
        if path in always_sent or not build.ignore.excludes(path.relative_to(context).as_posix()):
            changed.append(relative)
    return tuple(changed)


def build_source(config: Config, build: BuildContext, needed_for: str) -> GitInfo:
    """HEAD, with `dirty` set when `build` differs from it."""
    info = git_info(config.project_dir, needed_for)
    return dataclasses.replace(info, dirty=bool(build.changes))


def refuse_dirty(config: Config, source: GitInfo, build: BuildContext) -> None:
    """A dirty build context is an error unless `build.allow_dirty` is set."""
    if not source.dirty or config.build.allow_dirty:
        return
    changed = build.changes or ()
    raise UserError(
        f"the build context differs from commit {source.short_sha} ({len(changed)} file(s): "
        f"{first_few(changed)}); commit or stash them (or .dockerignore them), or build "
        "anyway with `build --allow-dirty` (build.allow_dirty), which labels the image "
        "<commit>-dirty and tags it sha-<commit>-dirty"
    )
