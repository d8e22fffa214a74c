"""Which module may import which, read from the source: go-containerregistry's depcheck here.

Every `import` and `from ... import` of every module is read from its syntax tree, those inside
functions and `if TYPE_CHECKING:` included (a lazy import is still a dependency), relative ones
resolved. A `Rule` names a package and what its modules may import (a list of allowed
prefixes for the watched top-level packages) or must not import (any module, third-party too).
A `Tier` is a step of a layered table: `tier_rules` turns the table into one `Rule` a package.
`import_graph` and `cycle` find what imports form a loop, between modules or between units.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    package: str  # the modules this rule binds: this one and everything under it
    may_import: tuple[str, ...] | None = None  # of the watched packages, only these; None: any
    must_not_import: tuple[str, ...] = ()  # never these, watched or not
    why: str = ""

    def binds(self, module: str) -> bool:
        return within(module, self.package)


@dataclass(frozen=True)
class Tier:
    name: str
    packages: tuple[str, ...]
    why: str
    shared: tuple[str, ...] | None = (
        None  # what of its own the tier's packages may import; None: all
    )


def tier_rules(tiers: Sequence[Tier]) -> list[Rule]:
    """A rule a package: it may import the tiers below its own, and what its tier shares."""
    rules: list[Rule] = []
    below: tuple[str, ...] = ()
    for tier in tiers:
        shared = tier.packages if tier.shared is None else tier.shared
        rules += [
            Rule(package, may_import=(*below, *shared), why=f"{tier.name}: {tier.why}")
            for package in tier.packages
        ]
        below = (*below, *tier.packages)
    return rules


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    imported: str
    rule: Rule

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported}: {self.rule.why}"


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported name) for every import in `path`; `from a import b` gives `a.b`, since
    `b` may be a module of its own."""
    module = module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def violations(
    root: Path, packages: Sequence[str], rules: Sequence[Rule], watched: Sequence[str]
) -> list[Violation]:
    """What the modules of `packages` (directories under `root`) import against `rules`: each
    import once, under the first rule it breaks."""
    found: list[Violation] = []
    for path in _sources(root, packages):
        module = module_name(root, path)
        binding = [rule for rule in rules if rule.binds(module)]
        for line, imported in imports(root, path):
            broken = next((rule for rule in binding if _breaks(rule, imported, watched)), None)
            if broken:
                found.append(Violation(path.relative_to(root), line, imported, broken))
    return found


def import_graph(root: Path, packages: Sequence[str]) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports; `from a import b` is `a.b` where that is
    a module, else `a` (the name is defined in `a`)."""
    paths = {module_name(root, path): path for path in _sources(root, packages)}
    graph: dict[str, set[str]] = {module: set() for module in paths}
    for module, path in paths.items():
        for _, imported in imports(root, path):
            target = imported if imported in paths else imported.rpartition(".")[0]
            if target in paths and target != module:
                graph[module].add(target)
    return graph


def unit_graph(graph: Mapping[str, set[str]], units: Sequence[str]) -> dict[str, set[str]]:
    """`graph` with each module merged into its unit: the longest of `units` holding it, else
    its top two names (`pipeline.lint.rules` -> `pipeline.lint`)."""

    def unit(module: str) -> str:
        holding = [name for name in units if within(module, name)]
        return max(holding, key=len) if holding else ".".join(module.split(".")[:2])

    merged: dict[str, set[str]] = {}
    for module, targets in graph.items():
        edges = merged.setdefault(unit(module), set())
        edges |= {unit(target) for target in targets} - {unit(module)}
    return merged


def cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as [a, b, ..., a], or None when it has none."""
    done: set[str] = set()
    for start in sorted(graph):
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[Iterator[str]] = []
        node: str | None = start
        while True:
            if node is not None:
                if node in on_path:
                    return [*path[path.index(node) :], node]
                if node not in done:
                    path.append(node)
                    on_path.add(node)
                    stack.append(iter(sorted(graph.get(node, ()))))
            if not stack:
                break
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
    return None


def _sources(root: Path, packages: Sequence[str]) -> list[Path]:
    return [path for package in packages for path in sorted((root / package).rglob("*.py"))]


def _breaks(rule: Rule, imported: str, watched: Sequence[str]) -> bool:
    if any(within(imported, name) for name in rule.must_not_import):
        return True
    if rule.may_import is None or not any(within(imported, name) for name in watched):
        return False
    return not any(within(imported, name) for name in (rule.package, *rule.may_import))
