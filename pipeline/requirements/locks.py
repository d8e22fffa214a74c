"""Lock files as requirements sources: uv.lock, poetry.lock, pdm.lock, pylock.toml (PEP 751),
Pipfile.lock and conda's environment.yml.

A lock pins every package with its hashes; most also record who needs whom. Each package
becomes one pinned, hashed requirement line, and where the lock has the graph each entry gets
the names of the packages that need it (as pip-compile's `# via` would), so the split closes
the base under the lock's own graph. A package's marker is the union of the markers on the
edges into it: it is installed wherever any package needing it could be, a superset that is
safe in hash mode because every such package is hashed.

The project itself (uv's virtual or editable root, a PEP 751 directory) is not a requirement:
it is named in a warning. A format split cannot read gets one message that names the export
command writing a file it can.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from packaging.pylock import Pylock, PylockUnsupportedVersionError, PylockValidationError
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pipeline.core.errors import UserError
from pipeline.requirements.parse import (
    Entry,
    Option,
    Requirements,
    named_entry,
    read_pip_lines,
    read_text,
)
from pipeline.requirements.pyproject import PYPI

# Files split does not read, -> (what they are, the command that writes a file it reads).
UNREADABLE = {
    "Pipfile": ("a Pipfile", "`pipenv lock` (split reads the Pipfile.lock it writes)"),
    "pixi.lock": ("a pixi lock", "`pixi workspace export conda-environment environment.yml`"),
    "conda-lock.yml": ("a conda-lock file", "pointing split at the environment.yml it locks"),
    "setup.py": ("setup.py", "`uv pip compile setup.py --generate-hashes -o requirements.txt`"),
    "setup.cfg": ("setup.cfg", "`uv pip compile setup.cfg --generate-hashes -o requirements.txt`"),
}
EXPORTS = {
    "uv.lock": "`uv export --format requirements-txt --no-emit-project -o requirements.txt`",
    "poetry.lock": "`poetry export -f requirements.txt -o requirements.txt` (poetry-plugin-export)",
    "pdm.lock": "`pdm export -o requirements.txt`",
    "Pipfile.lock": "`pipenv requirements --hash > requirements.txt`",
    "pylock": "`uv export --format requirements-txt -o requirements.txt`",
}
CONDA_FILES = ("environment.yml", "environment.yaml", "conda.yml", "conda.yaml")


def lock_format(path: Path) -> str | None:
    """The lock format `path` holds, by its name; None for requirements files and pyproject."""
    name = path.name
    if name in ("uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock"):
        return name
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return "pylock"
    if name in CONDA_FILES:
        return "conda"
    if name in UNREADABLE:
        return "unreadable"
    return None


def read_lock(
    path: Path, label: str, root: Path, extras: Sequence[str], groups: Sequence[str]
) -> Requirements:
    kind = lock_format(path)
    if kind == "unreadable":
        what, command = UNREADABLE[path.name]
        raise UserError(f"{label}: {what} is not a file split reads; make one with {command}")
    if kind == "conda":
        return _conda(path, label, root)
    text = read_text(path, label)
    try:
        data = json.loads(text) if kind == "Pipfile.lock" else tomllib.loads(text)
        readers = {
            "uv.lock": _uv,
            "poetry.lock": _poetry,
            "pdm.lock": _pdm,
            "Pipfile.lock": _pipfile,
            "pylock": _pylock,
        }
        packages, options, warnings = readers[str(kind)](data, path, extras, groups)
    except (ValueError, KeyError, TypeError, AttributeError, PylockValidationError) as exc:
        detail = exc if isinstance(exc, ValueError | PylockValidationError) else f"no {exc}"
        raise UserError(
            f"{label}: not a {kind} split can read ({detail}); make a requirements file with"
            f" {EXPORTS[str(kind)]}"
        ) from exc
    entries = _entries(packages, label)
    return Requirements(path, entries, list(dict.fromkeys(options)), warnings)


@dataclass(frozen=True)
class Locked:
    """One package of a lock, as the requirement line that installs exactly it."""

    name: str  # canonical
    requirement: str  # `numpy==2.2.5`, `pkg @ git+...@commit`
    markers: tuple[str, ...]  # any of these; () installs it everywhere
    hashes: tuple[str, ...]
    requires: tuple[str, ...] | None  # canonical names it needs; None where the lock says not


def _entries(packages: list[Locked], label: str) -> list[Entry]:
    graph = any(p.requires is not None for p in packages)
    parents: dict[str, set[str]] = {}
    for package in packages:
        for child in package.requires or ():
            parents.setdefault(child, set()).add(package.name)
    entries = []
    for package in sorted(packages, key=lambda p: (p.name, p.requirement)):
        markers = list(dict.fromkeys(package.markers))
        marker = " or ".join(f"({m})" if len(markers) > 1 else m for m in markers)
        text = f"{package.requirement} ; {marker}" if marker else package.requirement
        entry = named_entry(text, f"{label}: {package.name}")
        via = tuple(sorted(parents.get(package.name, ()))) if graph else None
        entries.append(replace(entry, hashes=tuple(dict.fromkeys(package.hashes)), via=via))
    return entries


def _one(marker: str) -> tuple[str, ...]:
    return (marker,) if marker else ()


def _index(url: str | None, path: Path) -> list[Option]:
    if not url or url.rstrip("/") == PYPI:
        return []
    return [Option("--extra-index-url", url.rstrip("/"), path.parent)]


def _selected(available: Iterable[str], wanted: Sequence[str], default: Sequence[str]) -> set[str]:
    return {canonicalize_name(g) for g in (wanted or default)} & {
        canonicalize_name(g) for g in available
    }


def _not_selected(label: str, kind: str, names: Iterable[str], chosen: set[str]) -> list[str]:
    left = sorted({n for n in names if canonicalize_name(n) not in chosen})
    if not left:
        return []
    key = "split.extras" if kind == "extra" else "split.groups"
    return [
        f"{label}: {kind}s not selected, so not in either layer: {', '.join(left)}; select them"
        f" with {key} (--{kind}s) if the image needs them"
    ]


# uv.lock


def _uv(
    data: dict[str, Any], path: Path, extras: Sequence[str], groups: Sequence[str]
) -> tuple[list[Locked], list[Option], list[str]]:
    if data.get("version") != 1:
        raise ValueError(f"lock version {data.get('version')!r}, split knows version 1")
    label = path.name
    packages = data["package"]
    members = [p for p in packages if {"virtual", "editable"} & set(p.get("source", {}))]
    all_extras = {e for m in members for e in m.get("optional-dependencies", {})}
    all_groups = {g for m in members for g in m.get("dev-dependencies", {})}
    chosen_extras = _selected(all_extras, extras, ())
    chosen_groups = _selected(all_groups, groups, ())
    warnings = _not_selected(label, "extra", all_extras, chosen_extras)
    warnings += _not_selected(label, "group", all_groups, chosen_groups)
    warnings += [
        f"{label}: the project itself ({m['name']}) is not in either layer: install it after"
        " them (`pip install --no-deps .`)"
        for m in members
        if "editable" in m.get("source", {})
    ]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(canonicalize_name(package["name"]), []).append(package)
    markers: dict[int, list[str]] = {}
    requires: dict[int, set[str]] = {}
    visited: set[tuple[int, str]] = set()
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for member in members:
        edges = list(member.get("dependencies", []))
        for name, items in member.get("optional-dependencies", {}).items():
            edges += items if canonicalize_name(name) in chosen_extras else []
        for name, items in member.get("dev-dependencies", {}).items():
            edges += items if canonicalize_name(name) in chosen_groups else []
        pending += [(member, edge) for edge in edges]
    while pending:
        parent, edge = pending.pop()
        for target in _uv_targets(by_name, edge):
            if target in members:
                continue
            key = id(target)
            markers.setdefault(key, []).append(edge.get("marker", ""))
            if parent not in members:
                requires.setdefault(id(parent), set()).add(canonicalize_name(target["name"]))
            # A package's own requirements once, and each extra asked for once.
            for extra in ["", *edge.get("extra", [])]:
                if (key, extra) in visited:
                    continue
                visited.add((key, extra))
                children = (
                    target.get("optional-dependencies", {}).get(extra, [])
                    if extra
                    else target.get("dependencies", [])
                )
                pending += [(target, child) for child in children]
    locked, options = [], []
    for package in packages:
        if id(package) not in markers:
            continue
        requirement, hashes = _uv_requirement(package)
        edge_markers = markers[id(package)]
        locked.append(
            Locked(
                canonicalize_name(package["name"]),
                requirement,
                () if "" in edge_markers else tuple(edge_markers),
                hashes,
                tuple(sorted(requires.get(id(package), ()))),
            )
        )
        options += _index(package.get("source", {}).get("registry"), path)
    return locked, options, warnings


def _uv_targets(by_name: dict[str, list[dict[str, Any]]], edge: dict[str, Any]) -> list[Any]:
    candidates = by_name.get(canonicalize_name(edge["name"]), [])
    if "version" in edge:
        candidates = [c for c in candidates if c.get("version") == edge["version"]]
    if "source" in edge:
        candidates = [c for c in candidates if c.get("source") == edge["source"]]
    return candidates


def _uv_requirement(package: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    source = package.get("source", {})
    files = [package.get("sdist") or {}, *package.get("wheels", [])]
    hashes = tuple(f["hash"] for f in files if f.get("hash"))
    name = package["name"]
    if "git" in source:
        url, _, commit = source["git"].partition("#")
        return f"{name} @ git+{url.partition('?')[0]}@{commit}", ()
    if "url" in source:
        return f"{name} @ {source['url']}", hashes
    if {"path", "directory"} & set(source):
        raise ValueError(f"{name}: a local {', '.join(source)} source")
    return f"{name}=={package['version']}", hashes


# poetry.lock


def _poetry(
    data: dict[str, Any], path: Path, extras: Sequence[str], groups: Sequence[str]
) -> tuple[list[Locked], list[Option], list[str]]:
    version = str(data["metadata"]["lock-version"])
    if version.split(".")[0] not in ("1", "2"):
        raise ValueError(f"lock-version {version}, split knows 1.x and 2.x")
    label = path.name
    packages = data["package"]
    all_groups = {g for p in packages for g in p.get("groups", [p.get("category", "main")])}
    chosen_groups = _selected(all_groups, groups, ("main",))
    project_extras = data.get("extras", {})
    chosen_extras = _selected(project_extras, extras, ())
    warnings = _not_selected(label, "group", all_groups, chosen_groups)
    warnings += _not_selected(label, "extra", project_extras, chosen_extras)
    if not any("groups" in p or "category" in p for p in packages):
        warnings.append(f"{label}: the lock records no groups: every package in it is taken")
    in_extras = {
        canonicalize_name(n) for e, names in project_extras.items() for n in names
        if canonicalize_name(e) in chosen_extras
    }  # fmt: skip
    chosen = []
    for package in packages:
        package_groups = package.get("groups", [package.get("category", "main")])
        if not _selected(package_groups, sorted(chosen_groups), ()):
            continue
        if package.get("optional") and canonicalize_name(package["name"]) not in in_extras:
            continue
        chosen.append(package)
    names = {canonicalize_name(p["name"]) for p in chosen}
    locked, options = [], []
    for package in chosen:
        source = package.get("source") or {}
        name, hashes = package["name"], tuple(f["hash"] for f in package.get("files", []))
        requirement = f"{name}=={package['version']}"
        if source.get("type") == "git":
            reference = source.get("resolved_reference") or source.get("reference")
            requirement, hashes = f"{name} @ git+{source['url']}@{reference}", ()
        elif source.get("type") == "url":
            requirement = f"{name} @ {source['url']}"
        elif source.get("type") in ("file", "directory"):
            raise ValueError(f"{name}: a local {source['type']} source")
        elif source.get("type") == "legacy":
            options += _index(source.get("url"), path)
        marker = package.get("markers", "")
        if isinstance(marker, dict):  # one marker per group: any selected group's
            marker = " or ".join(
                f"({m})" for g, m in marker.items() if canonicalize_name(g) in chosen_groups
            )
        requires = {canonicalize_name(n) for n in package.get("dependencies", {})} & names
        locked.append(
            Locked(
                canonicalize_name(name),
                requirement,
                _one(marker),
                hashes,
                tuple(sorted(requires)),
            )
        )
    return locked, options, warnings


# pdm.lock


def _pdm(
    data: dict[str, Any], path: Path, extras: Sequence[str], groups: Sequence[str]
) -> tuple[list[Locked], list[Option], list[str]]:
    version = str(data["metadata"]["lock_version"])
    if version.split(".")[0] != "4":
        raise ValueError(f"lock_version {version}, split knows 4.x")
    label = path.name
    packages = data["package"]
    all_groups = {g for p in packages for g in p.get("groups", [])}
    chosen_groups = _selected(all_groups, [*groups, *extras], ("default",))
    warnings = _not_selected(label, "group", all_groups, chosen_groups)
    merged: dict[str, Locked] = {}
    for package in packages:
        if not _selected(package.get("groups", []), sorted(chosen_groups), ()):
            continue
        name = canonicalize_name(package["name"])
        hashes = tuple(f["hash"] for f in package.get("files", []) if f.get("hash"))
        requirement = f"{package['name']}=={package['version']}"
        if "git" in package:
            requirement, hashes = f"{name} @ git+{package['git']}@{package['revision']}", ()
        elif "url" in package:
            requirement = f"{name} @ {package['url']}"
        elif "path" in package:
            raise ValueError(f"{name}: a local path {package['path']}")
        requires = {_requirement_name(d) for d in package.get("dependencies", [])}
        marker = package.get("marker", "")
        # An `x[extra]` package repeats x with the extra's requirements: one line, both graphs.
        earlier = merged.get(name)
        if earlier is not None:
            requires |= set(earlier.requires or ())
        merged[name] = Locked(name, requirement, _one(marker), hashes, tuple(sorted(requires)))
    names = set(merged)
    locked = [replace(p, requires=tuple(n for n in p.requires or () if n in names and n != p.name))
              for p in merged.values()]  # fmt: skip
    return locked, _pdm_sources(path), warnings


def _pdm_sources(path: Path) -> list[Option]:
    pyproject = path.parent / "pyproject.toml"
    if not pyproject.is_file():
        return []
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    sources = data.get("tool", {}).get("pdm", {}).get("source", [])
    return [option for source in sources for option in _index(source.get("url"), path)]


# Pipfile.lock


def _pipfile(
    data: dict[str, Any], path: Path, extras: Sequence[str], groups: Sequence[str]
) -> tuple[list[Locked], list[Option], list[str]]:
    spec = data["_meta"].get("pipfile-spec")
    if spec != 6:
        raise ValueError(f"pipfile-spec {spec!r}, split knows 6")
    sections = {"default": "default", "dev": "develop", "develop": "develop"}
    chosen = {"default", *(sections.get(canonicalize_name(g), g) for g in groups)}
    unknown = chosen - {"default", "develop"}
    if unknown:
        raise UserError(f"{path.name}: split.groups: no group {', '.join(sorted(unknown))}")
    warnings = []
    if data.get("develop") and "develop" not in chosen:
        warnings = _not_selected(path.name, "group", ["dev"], set())
    sources = data["_meta"].get("sources", [])
    options = [o for s in sources for o in _index(s.get("url"), path)]
    locked = []
    for section in ("default", "develop"):
        for name, package in (data.get(section) or {}).items() if section in chosen else ():
            extras_text = f"[{','.join(package['extras'])}]" if package.get("extras") else ""
            hashes = tuple(package.get("hashes", []))
            if "git" in package:
                requirement = f"{name}{extras_text} @ git+{package['git']}@{package['ref']}"
            elif "file" in package or "path" in package:
                raise ValueError(f"{name}: a local file or path")
            else:
                requirement = f"{name}{extras_text}{package['version']}"
            marker = package.get("markers", "")
            locked.append(Locked(canonicalize_name(name), requirement, _one(marker), hashes, None))
    return locked, options, warnings


# pylock.toml (PEP 751)


def _pylock(
    data: dict[str, Any], path: Path, extras: Sequence[str], groups: Sequence[str]
) -> tuple[list[Locked], list[Option], list[str]]:
    try:
        lock = Pylock.from_dict(data)
    except PylockUnsupportedVersionError as exc:
        raise ValueError(str(exc)) from exc
    locked, options, warnings = [], [], []
    graph = any(p.dependencies for p in lock.packages)
    for package in lock.packages:
        name = canonicalize_name(package.name)
        if package.directory is not None:
            warnings.append(
                f"{path.name}: {name} (the directory {package.directory.path}) is local code, not"
                " in either layer: install it after them"
            )
            continue
        files = [package.sdist, *(package.wheels or ()), package.archive]
        hashes = tuple(f"{a}:{h}" for f in files if f is not None for a, h in f.hashes.items())
        if package.vcs is not None:
            requirement = f"{name} @ git+{package.vcs.url}@{package.vcs.commit_id}"
        elif package.archive is not None and package.archive.url:
            requirement = f"{name} @ {package.archive.url}"
        else:
            requirement = f"{name}=={package.version}"
        options += _index(package.index, path)
        requires = None
        if graph:
            requires = tuple(
                sorted({canonicalize_name(d["name"]) for d in package.dependencies or ()})
            )
        marker = str(package.marker) if package.marker else ""
        locked.append(Locked(name, requirement, _one(marker), hashes, requires))
    if extras or groups:
        warnings.append(
            f"{path.name}: split.extras and split.groups do not apply: a pylock.toml is already"
            " one selection"
        )
    return locked, options, warnings


# conda environment.yml


def _conda(path: Path, label: str, root: Path) -> Requirements:
    try:
        data = yaml.safe_load(read_text(path, label))
    except yaml.YAMLError as exc:
        raise UserError(f"{label}: invalid YAML: {exc}") from exc
    dependencies = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(dependencies, list):
        raise UserError(f"{label}: no `dependencies:` list (not a conda environment file)")
    conda = [str(item) for item in dependencies if not isinstance(item, dict)]
    sections = [item["pip"] for item in dependencies if isinstance(item, dict) and "pip" in item]
    lines = [str(line) for section in sections for line in section or []]
    parsed = read_pip_lines(path, lines, f"{label}: dependencies.pip", root)
    if not parsed.entries:
        raise UserError(
            f"{label}: no `pip:` section: conda installs all of it, so there is nothing for pip"
            " to split; build the image from the environment with conda or mamba"
        )
    warnings = [
        f"{label}: conda packages, not installed by pip and in neither layer (the image's conda"
        f" environment must provide them): {', '.join(conda)}"
    ] if conda else []  # fmt: skip
    return replace(parsed, warnings=warnings)


def _requirement_name(text: str) -> str:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement as exc:
        raise ValueError(str(exc)) from exc
