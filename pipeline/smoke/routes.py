"""The routes the app's Python source declares, read offline: before a release's first push,
whether the app has the GET route the smoke test waits for (smoke.health, /health by default).

Only a verdict the source makes certain: routes declared with decorators (FastAPI, Flask,
Starlette-style `@app.get("/predict")`) and no `/health` named anywhere in the context's Python
files. An app whose routes the source does not show (a framework serving them, a package
installed in the image) gets no verdict; the smoke test finds out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_ROUTE = re.compile(
    r"""@\s*[\w.]+\.(get|post|put|patch|delete|head|options|route|api_route)\(\s*"""
    r"""(?:path\s*=\s*|rule\s*=\s*)?[rbu]?["'](/[^"']*)["']"""
)
# Generated or vendored modules this size say nothing about the app's own routes.
_LARGEST = 1 << 20


@dataclass(frozen=True)
class Routes:
    declared: tuple[str, ...]  # "POST /predict (serve/app.py)", in file order
    health: str | None  # the file that names the health path, if one does


def app_routes(context: Path, files: Iterable[str], health_path: str) -> Routes:
    """What the Python files among `files` (relative to `context`) declare, and which names
    `health_path` (smoke.health)."""
    named = re.compile(rf"""["']{re.escape(health_path.rstrip("/"))}/?["']""")
    declared: list[str] = []
    health = None
    for relative in files:
        path = context / relative
        if not relative.endswith(".py"):
            continue
        try:
            if path.stat().st_size > _LARGEST:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:  # a dangling link, a file gone meanwhile: no source to read
            continue
        for method, route in _ROUTE.findall(text):
            verb = "GET" if method in ("route", "api_route") else method.upper()
            declared.append(f"{verb} {route} ({relative})")
        if health is None and named.search(text):
            health = relative
    return Routes(tuple(declared), health)
