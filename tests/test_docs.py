"""The architecture docs beside the code name real code: every `pipeline.…` name they give in
backticks imports (a module, or an attribute of one), and the tier table lists the packages of
the layering contract, so a move or a rename that leaves a page behind fails here."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from tests.test_layering import TIERS, VERSION

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "docs" / "architecture.md",
    *sorted((ROOT / "pipeline").glob("*/README.md")),
]
NAME = re.compile(r"`(pipeline(?:\.\w+)+)`")
FILES = ("pipeline.yaml", "pipeline.yml")  # the project's configuration file, not a module


def resolves(name: str) -> bool:
    """`name` is a module (found, not run: `pipeline.__main__` would start the CLI), or an
    attribute of the longest module prefix of it."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            spec = importlib.util.find_spec(".".join(parts[:cut]))
        except ModuleNotFoundError:  # a parent that is no package
            continue
        if spec is None:
            continue
        if cut == len(parts):
            return True
        found: object = importlib.import_module(".".join(parts[:cut]))
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_name_a_page_gives_is_in_the_code(page: Path) -> None:
    names = sorted(set(NAME.findall(page.read_text(encoding="utf-8"))))
    missing = [name for name in names if name not in FILES and not resolves(name)]
    assert not missing, f"{page.relative_to(ROOT)} names what the code does not have: {missing}"


def test_the_architecture_tier_table_is_the_layering_contract() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`pipeline." in line]
    documented = {row.split("|")[1].strip(): set(NAME.findall(row.split("|")[2])) for row in rows}
    contract = {tier.name: set(tier.packages) - {VERSION} for tier in TIERS}
    assert documented == contract


def test_a_wrong_name_is_caught() -> None:
    assert resolves("pipeline.release.preflight.preflight")
    assert not resolves("pipeline.release.preflight.no_such_function")
    assert not resolves("pipeline.no_such_package")
