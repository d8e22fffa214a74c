"""Poetry's `[tool.poetry.dependencies]`, its extras and its groups as PEP 508 requirement lines.

Poetry writes constraints PEP 440 lacks: `^1.2` (>=1.2,<2.0; `^0.2` is >=0.2,<0.3), `~1.2`
(>=1.2,<1.3), a bare `1.2.3` (==1.2.3) and `*`. A dependency table adds `extras`, `markers`,
`python` and `platform` (carried as markers), `optional` (only in the `[tool.poetry.extras]` that
name it), a `source` (its `[[tool.poetry.source]]` becomes an index option of both layers), or a
`git`, `url` or `path` reference. Ranges are what the project accepts, not what it was tested
with: where a poetry.lock is kept, split reads that instead (the pyproject says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipeline.core.errors import UserError

TABLE = "tool.poetry.dependencies"
# An operator followed by spaces (`>= 1.2`): Poetry reads it as one constraint.
_SPACED_OPERATOR = re.compile(r"([<>=!~^]+)\s+")


@dataclass(frozen=True)
class PoetryDependencies:
    main: list[tuple[str, str]]  # (where, requirement line), the optional ones left out
    extras: dict[str, list[str]]  # [tool.poetry.extras]: each extra's requirement lines
    groups: dict[str, list[Any]]  # lines, and {"include-group": name} for include-groups
    warnings: list[str]


def poetry_dependencies(poetry: dict[str, Any], label: str) -> PoetryDependencies:
    """`[tool.poetry]`'s dependencies, extras and groups, read as pip would need them."""
    warnings: list[str] = []
    main: list[tuple[str, str]] = []
    optional: dict[str, list[str]] = {}
    for name, spec in _table(poetry.get("dependencies"), TABLE, label).items():
        if canonicalize_name(name) == "python":
            continue  # the interpreter: the base image decides it
        where = f"{TABLE}.{name}"
        lines = requirement_lines(name, spec, where, label, warnings)
        if _optional(spec):
            optional[canonicalize_name(name)] = lines
        else:
            main += [(where, line) for line in lines]
    extras: dict[str, list[str]] = {}
    for extra, names in _table(poetry.get("extras"), "tool.poetry.extras", label).items():
        missing = [name for name in names if canonicalize_name(name) not in optional]
        if missing:
            raise UserError(
                f"{label}: tool.poetry.extras.{extra}: {', '.join(missing)} is not an optional "
                f"dependency in [{TABLE}] (optional = true)"
            )
        extras[extra] = [line for name in names for line in optional[canonicalize_name(name)]]
    return PoetryDependencies(main, extras, _groups(poetry, label, warnings), warnings)


def _groups(poetry: dict[str, Any], label: str, warnings: list[str]) -> dict[str, list[Any]]:
    """`[tool.poetry.group.<name>]`, with Poetry 1.1's `dev-dependencies` as the group `dev`."""
    tables = {
        name: _table(group, f"tool.poetry.group.{name}", label)
        for name, group in _table(poetry.get("group"), "tool.poetry.group", label).items()
    }
    if poetry.get("dev-dependencies"):
        tables.setdefault("dev", {}).setdefault("dependencies", {}).update(
            _table(poetry["dev-dependencies"], "tool.poetry.dev-dependencies", label)
        )
    groups: dict[str, list[Any]] = {}
    for name, group in tables.items():
        table = f"tool.poetry.group.{name}.dependencies"
        groups[name] = [
            line
            for package, spec in _table(group.get("dependencies"), table, label).items()
            for line in requirement_lines(package, spec, f"{table}.{package}", label, warnings)
        ] + [{"include-group": included} for included in group.get("include-groups", [])]
    return groups


def requirement_lines(
    name: str, spec: Any, where: str, label: str, warnings: list[str]
) -> list[str]:
    """One dependency's requirement lines: one per table of a multiple-constraints list."""
    if isinstance(spec, list):
        return [
            line for item in spec for line in requirement_lines(name, item, where, label, warnings)
        ]
    if isinstance(spec, str):
        spec = {"version": spec}
    if not isinstance(spec, dict):
        raise UserError(f"{label}: {where}: neither a version constraint nor a table")
    extras = spec.get("extras") or []
    head = name + (f"[{','.join(extras)}]" if extras else "")
    markers = [f"({spec['markers']})"] if spec.get("markers") else []
    if spec.get("python"):
        markers += [
            f'python_full_version {s.operator} "{s.version}"'
            for s in SpecifierSet(specifier(str(spec["python"]), f"{where}.python", label))
        ]
    if spec.get("platform"):
        markers.append(f'sys_platform == "{spec["platform"]}"')
    marker = f" ; {' and '.join(markers)}" if markers else ""
    if "git" in spec:
        ref = spec.get("rev") or spec.get("tag") or spec.get("branch")
        subdirectory = f"#subdirectory={spec['subdirectory']}" if spec.get("subdirectory") else ""
        return [f"{head} @ git+{spec['git']}{'@' + ref if ref else ''}{subdirectory}{marker}"]
    if "url" in spec:
        return [f"{head} @ {spec['url']}{marker}"]
    if "path" in spec:
        warnings.append(
            f"{label}: {where} (path {spec['path']}) cannot be carried into a requirements file: "
            f"kept as {name!r}, which pip takes from the index"
        )
        return [f"{head}{marker}"]
    return [f"{head}{specifier(str(spec.get('version', '*')), where, label)}{marker}"]


def specifier(constraint: str, where: str, label: str) -> str:
    """A Poetry version constraint as a PEP 440 specifier set ("" for `*`)."""
    if "||" in constraint or "|" in constraint:
        raise UserError(
            f"{label}: {where}: {constraint!r} is a union, which PEP 440 cannot say in one "
            "requirement; narrow it to one range, or split the poetry.lock instead"
        )
    parts = [
        part
        for part in re.split(r"[,\s]+", _SPACED_OPERATOR.sub(r"\1", constraint.strip()))
        if part and part != "*"
    ]
    try:
        text = ",".join(spec for part in parts for spec in _pep440(part))
        SpecifierSet(text)
    except (InvalidVersion, InvalidSpecifier) as exc:
        raise UserError(f"{label}: {where}: {constraint!r} is not a version constraint") from exc
    return text


def _pep440(part: str) -> list[str]:
    if part.startswith("^"):
        version = Version(part[1:])
        release = list(version.release)
        # The first non-zero component may not grow (`^0.2.3`: <0.3.0); all zero: the last.
        bump = next((i for i, n in enumerate(release) if n), len(release) - 1)
        return [f">={version.public}", f"<{_upper(release, bump)}"]
    if part.startswith("~") and not part.startswith("~="):
        version = Version(part[1:])
        release = list(version.release)
        return [f">={version.public}", f"<{_upper(release, min(1, len(release) - 1))}"]
    operator = re.match(r"[<>=!~]*", part).group()  # type: ignore[union-attr]
    version_text = part[len(operator) :]
    if operator in ("", "="):
        operator = "=="
    if operator in ("==", "!=") or version_text.endswith(".*"):
        return [f"{operator}{version_text}"]
    # A local label (`2.6.0+cpu`) is only allowed with == and !=; the index picks the build.
    return [f"{operator}{Version(version_text).public}"]


def _upper(release: list[int], index: int) -> str:
    """`release` with component `index` one up and the rest zero, as Poetry writes it."""
    bumped = [*release[:index], release[index] + 1]
    return ".".join(str(n) for n in bumped + [0] * (len(release) - len(bumped)))


def _optional(spec: Any) -> bool:
    items = spec if isinstance(spec, list) else [spec]
    return any(isinstance(item, dict) and item.get("optional") is True for item in items)


def _table(value: Any, where: str, label: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{label}: [{where}] is not a table")
    return value
