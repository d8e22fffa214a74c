"""Which module may import which, read from the source: go-containerregistry's depcheck here.

Every `import` and `from ... import` of every module is read from its syntax tree, those inside
functions and `if TYPE_CHECKING:` included (a lazy import is still a dependency), relative ones
resolved. A `Rule` names a package and what its modules may import (a list of allowed
prefixes for the watched top-level packages) or must not import (any module, third-party too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
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
    """What the modules of `packages` (directories under `root`) import against `rules`."""
    found: list[Violation] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(root, path)
            binding = [rule for rule in rules if rule.binds(module)]
            for line, imported in imports(root, path):
                for rule in binding:
                    if _breaks(rule, imported, watched):
                        found.append(Violation(path.relative_to(root), line, imported, rule))
    return found


def _breaks(rule: Rule, imported: str, watched: Sequence[str]) -> bool:
    if any(within(imported, name) for name in rule.must_not_import):
        return True
    if rule.may_import is None or not any(within(imported, name) for name in watched):
        return False
    return not any(within(imported, name) for name in (rule.package, *rule.may_import))
