"""pyproject.toml as a requirements source: dependencies, the extras and dependency groups asked
for, and uv's indexes and sources and Poetry's sources, which pip would otherwise never see.

`[tool.uv.sources]` ties a package to an index, a Git repository or a URL; pip knows only
requirement lines and index options, so an index becomes `--extra-index-url` (`--index-url`
for uv's `default = true`) and a Git or URL source becomes a direct reference. What cannot be
carried (a path or workspace source, an unselected extra or group) is named in a warning.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pipeline.core.errors import UserError
from pipeline.requirements.parse import Entry, Option, Requirements, named_entry, read_text
from pipeline.requirements.poetry import poetry_dependencies

PYPI = "https://pypi.org/simple"
LOCKS_BESIDE = ("uv.lock", "poetry.lock", "pdm.lock")


def read_pyproject(
    path: Path, label: str, extras: Sequence[str] = (), groups: Sequence[str] = ()
) -> Requirements:
    try:
        data = tomllib.loads(read_text(path, label))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{label}: invalid TOML: {exc}") from exc
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    dependencies = project.get("dependencies")
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
    converted = poetry_dependencies(poetry, label)
    name = canonicalize_name(str(project.get("name", "")))
    if _strings(dependencies):
        texts = [(f"project.dependencies[{i}]", text) for i, text in enumerate(dependencies)]
        optional = project.get("optional-dependencies") or {}
        extras_at = "project.optional-dependencies.{name}[{index}]"
    elif converted.main:
        texts, optional = list(converted.main), converted.extras
        extras_at = "tool.poetry.extras.{name}[{index}]"
    else:
        raise UserError(f"{label}: no dependencies to split ({_instead(data)})")
    warnings = [
        *converted.warnings,
        *_chosen(label, "extra", "split.extras", optional, extras, texts, extras_at, name),
        *_chosen(
            label,
            "group",
            "split.groups",
            {**_groups(data), **converted.groups},
            groups,
            texts,
            "groups.{name}[{index}]",
        ),
    ]
    entries = [named_entry(text, f"{label}: {where}") for where, text in texts]
    uv = tool.get("uv") if isinstance(tool.get("uv"), dict) else {}
    indexes = {index.get("name"): index for index in uv.get("index", []) if isinstance(index, dict)}
    entries = [
        _sourced(entry, uv.get("sources", {}), indexes, label, warnings) for entry in entries
    ]
    options = [_index_option(index, path.parent) for index in indexes.values()]
    options += [_index_option(source, path.parent) for source in poetry.get("source", [])]
    warnings += [
        f"{label}: {lock} beside it pins every package with its hashes and graph: point"
        f" split.requirements at {lock} to split that instead of these ranges"
        for lock in LOCKS_BESIDE
        if (path.parent / lock).is_file()
    ]
    return Requirements(path, entries, list(dict.fromkeys(o for o in options if o)), warnings)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _instead(data: dict[str, Any]) -> str:
    if isinstance(data.get("project"), dict) and "dependencies" in data["project"].get(
        "dynamic", []
    ):
        return (
            "dynamic dependencies are not supported; point split.requirements at a requirements"
            " file or a lock file instead"
        )
    return "neither a [project] dependencies list nor packages in [tool.poetry.dependencies]"


def _groups(data: dict[str, Any]) -> dict[str, list[Any]]:
    """PEP 735 `[dependency-groups]`, with uv's older `dev-dependencies` as the group `dev`."""
    groups = dict(data.get("dependency-groups") or {})
    uv = data.get("tool", {}).get("uv", {}) if isinstance(data.get("tool"), dict) else {}
    if uv.get("dev-dependencies"):
        groups.setdefault("dev", []).extend(uv["dev-dependencies"])
    return groups


def _chosen(
    label: str,
    kind: str,
    key: str,
    available: dict[str, list[Any]],
    selected: Sequence[str],
    texts: list[tuple[str, str]],
    place: str,
    project: str = "",
) -> list[str]:
    """Add the selected extras' or groups' requirements to `texts`, with the ones they include
    (`{include-group = ...}`, or the project's own `svc[gpu]`); warnings for the rest. `place`:
    where a requirement is, from its extra's or group's `{name}` and its `{index}` there."""
    names = {canonicalize_name(name): name for name in available}
    unknown = [name for name in selected if canonicalize_name(name) not in names]
    if unknown:
        raise UserError(
            f"{label}: {key}: no {kind} {', '.join(unknown)} (it has: {', '.join(names.values())})"
        )
    taken: list[str] = []
    pending = [canonicalize_name(name) for name in selected]
    while pending:
        wanted = pending.pop(0)
        if wanted in taken:
            continue
        taken.append(wanted)
        for index, item in enumerate(available[names[wanted]]):
            where = place.format(name=names[wanted], index=index)
            include = _included(item, project)
            if include is None:
                texts.append((where, item))
            elif not set(include) <= set(names):
                raise UserError(f"{label}: {where}: includes {', '.join(include)}: no such {kind}")
            else:
                pending.extend(include)
    left = [name for canonical, name in names.items() if canonical not in taken]
    if not left:
        return []
    return [
        f"{label}: {kind}s not selected, so not in either layer: {', '.join(left)}; select them"
        f" with {key} (--{kind}s) if the image needs them"
    ]


def _included(item: Any, project: str) -> list[str] | None:
    """The groups or extras `item` includes; None for a requirement of its own."""
    if isinstance(item, dict) and isinstance(item.get("include-group"), str):
        return [canonicalize_name(item["include-group"])]
    if isinstance(item, str) and project:
        try:
            requirement = Requirement(item)
        except InvalidRequirement:
            return None  # reported with its place when read as an entry
        if canonicalize_name(requirement.name) == project:
            return [canonicalize_name(extra) for extra in requirement.extras]
    return None


def _sourced(
    entry: Entry,
    sources: dict[str, Any],
    indexes: dict[str, dict[str, Any]],
    label: str,
    warnings: list[str],
) -> Entry:
    """`entry` as pip must read it to get what `[tool.uv.sources]` says it comes from."""
    source = next(
        (value for key, value in sources.items() if canonicalize_name(key) == entry.name), None
    )
    if source is None:
        return entry
    # A list of sources, each with its own marker: pip can follow only one reference per line.
    choices = source if isinstance(source, list) else [source]
    if len(choices) > 1 and any("git" in c or "url" in c for c in choices):
        warnings.append(f"{label}: tool.uv.sources.{entry.name}: several sources, kept by name")
        return entry
    choice = choices[0] if isinstance(choices[0], dict) else {}
    if "index" in choice:
        if choice["index"] not in indexes:
            raise UserError(
                f"{label}: tool.uv.sources.{entry.name}: no [[tool.uv.index]] named"
                f" {choice['index']!r}"
            )
        return entry  # the index becomes an index option of both layers
    reference = _reference(choice)
    if reference is None:
        warnings.append(
            f"{label}: tool.uv.sources.{entry.name} ({', '.join(choice)}) cannot be carried into"
            f" a requirements file: kept as {entry.text!r}, which pip takes from the index"
        )
        return entry
    requirement = Requirement(entry.text)
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f" ; {requirement.marker}" if requirement.marker else ""
    return replace(named_entry(f"{requirement.name}{extras} @ {reference}{marker}", entry.origin))


def _reference(source: dict[str, Any]) -> str | None:
    if "git" in source:
        ref = source.get("rev") or source.get("tag") or source.get("branch")
        return f"git+{source['git']}" + (f"@{ref}" if ref else "")
    if "url" in source:
        return str(source["url"])
    return None


def _index_option(index: dict[str, Any], base_dir: Path) -> Option | None:
    """uv's `[[tool.uv.index]]` or Poetry's `[[tool.poetry.source]]` as pip's option."""
    url = str(index.get("url", "")).rstrip("/")
    if not url or url == PYPI:
        return None
    replaces = index.get("default") is True or index.get("priority") in ("default", "primary")
    return Option("--index-url" if replaces else "--extra-index-url", url, base_dir)
