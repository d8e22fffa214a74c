"""ML013: a requirements file that holds the heavy base packages, installed in one step.

Docker caches a RUN by its inputs: one install of the whole file reruns, base packages and all,
whenever any line changes. `pipeline split` writes the two files that keep the base cached;
`release` checks them only where the Dockerfile installs them (`uses_split_files` in split.py).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.sizes import human_size
from pipeline.lint import facts
from pipeline.lint.subject import Hit, Subject
from pipeline.project.installs import installed_requirement_files
from pipeline.requirements import Requirements, is_base_package, read_requirements
from pipeline.requirements.split import SPLIT_FILES

SHOWN_PACKAGES = 6


def mixed_requirements(target: Subject) -> Iterator[Hit]:
    for run, name in installed_requirement_files(target.dockerfile):
        if posixpath.basename(name) in SPLIT_FILES:
            continue
        requirements = context_requirements(target, name)
        if requirements is None:
            continue
        names = sorted({e.name for e in requirements.entries if e.name and not e.constraint})
        base = [n for n in names if is_base_package(n)]
        app = [n for n in names if not is_base_package(n)]
        if not base or not app:
            continue
        yield Hit(
            run.line,
            f"{name} is installed in one step, so a change to an app dependency "
            f"({_listed(app)}) reinstalls the base packages too: {_weighed(base)}",
            "run `python -m pipeline split`, then COPY and `pip install -r` "
            "requirements-base.txt in one RUN and requirements-app.txt in the next",
        )


def context_requirements(target: Subject, name: str) -> Requirements | None:
    """The requirements file a RUN's `-r NAME` reads, parsed; None when it is not in the
    context or cannot be read (`split` and the build report an unreadable file better)."""
    source = context_file(target, name)
    if source is None:
        return None
    try:
        return read_requirements(source)
    except PipelineError:
        return None


def context_file(target: Subject, name: str) -> Path | None:
    """The context file a RUN's `-r NAME` reads: the COPY source that put it there."""
    basename = posixpath.basename(name)
    candidates = [] if posixpath.isabs(name) else [name]
    for stage in target.dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword in ("COPY", "ADD"):
                sources = facts.context_sources(instruction)
                candidates += [s for s in sources if posixpath.basename(s) == basename]
                # `COPY requirements/ /tmp/req/`: the file is inside a copied directory.
                candidates += [posixpath.join(s, basename) for s in sources if s.endswith("/")]
    candidates.append(basename)
    for candidate in candidates:
        path = target.context / candidate.lstrip("/")
        if path.is_file():
            return path
    return None


def _weighed(packages: list[str]) -> str:
    """The packages, with the size each takes where this machine has it installed."""
    sizes = {name: installed_size(name) for name in packages}
    shown = [
        f"{name} ({human_size(size)} installed here)" if size else name
        for name, size in list(sizes.items())[:SHOWN_PACKAGES]
    ]
    more = len(packages) - SHOWN_PACKAGES
    text = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    known = [size for size in sizes.values() if size]
    if len(known) > 1:
        text += f"; {human_size(sum(known))} known in all"
    return text


def _listed(packages: list[str]) -> str:
    more = len(packages) - SHOWN_PACKAGES
    return ", ".join(packages[:SHOWN_PACKAGES]) + (f" and {more} more" if more > 0 else "")


def installed_size(name: str) -> int | None:
    """What pip's record of the installed distribution says it takes, if installed here."""
    import importlib.metadata  # slow to import, and only a finding's text needs it

    try:
        files = importlib.metadata.distribution(name).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return sum(f.size or 0 for f in files) or None
