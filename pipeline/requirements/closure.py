"""Which packages the base layer needs: its roots by name, their family, their closure.

Installed on its own in pip's hash-checking mode, the base layer must hold every package its
packages need, pinned and hashed: so a package that both layers need belongs to the base.
The graph comes from a lock file's `# via` annotations, or from pip's resolver when asked
(`resolver.py`); without one, the name rules alone decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipeline.requirements.families import is_framework
from pipeline.requirements.parse import Entry


@dataclass(frozen=True)
class BaseSet:
    names: frozenset[str]
    # name -> the frameworks it requires, for packages the name rules did not pick
    family: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # name -> the base packages that need it, for packages only the closure brought in
    closure: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # name -> the base packages that need it, for packages the file does not name at all
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)


def base_set(
    entries: Iterable[Entry],
    is_root: Callable[[str], bool],
    may_join: Callable[[str], bool],
    resolved: dict[str, set[str]] | None = None,
) -> BaseSet:
    """The names of the base layer: roots by name, then (where there is a graph) what is built
    on a framework among them and `may_join` it, then everything those need.

    The graph is the file's `# via` annotations, else `resolved` (pip's resolution, which also
    holds packages the file does not name: the closure goes through them).
    """
    entries = [e for e in entries if e.name is not None]
    roots = {e.name for e in entries if e.name is not None and is_root(e.name)}
    requires = _requirements(entries) or resolved or {}
    if not requires:
        return BaseSet(frozenset(roots))
    family = {
        e.name: frameworks
        for e in entries
        if e.name is not None and e.name not in roots and not _is_local(e)
        if may_join(e.name)
        if (frameworks := tuple(sorted(n for n in requires.get(e.name, ()) if _core(n, roots))))
    }
    chosen = roots | set(family)
    needed = _closure(chosen, requires)
    listed = {e.name for e in entries}
    needed_by = {
        name: tuple(sorted(p for p in needed if name in requires.get(p, ())))
        for name in needed - chosen
    }
    found = {name: by for name, by in sorted(needed_by.items()) if name in listed}
    missing = {name: by for name, by in sorted(needed_by.items()) if name not in listed}
    return BaseSet(frozenset(needed & listed), family, found, missing)


def _is_local(entry: Entry) -> bool:
    """The project itself or a sibling (`-e .`, `app @ file:///src`): app code, not a library
    built on a framework, however much torch it imports."""
    reference = entry.text.split(" ; ", 1)[0].rpartition(" @ ")[2]
    return entry.editable or reference.startswith(("file:", ".", "/", "~"))


def _core(name: str, roots: set[str]) -> bool:
    return name in roots and is_framework(name)


def _requirements(entries: list[Entry]) -> dict[str, set[str]]:
    """name -> the names in the file it requires, from the `# via` annotations."""
    present = {e.name for e in entries}
    requires: dict[str, set[str]] = {}
    for entry in entries:
        for parent in entry.via or ():
            if parent in present and entry.name is not None:
                requires.setdefault(parent, set()).add(entry.name)
    return requires


def _closure(start: set[str], requires: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    pending = list(start)
    while pending:
        for child in requires.get(pending.pop(), ()):
            if child not in seen:
                seen.add(child)
                pending.append(child)
    return seen
