"""The wheel users install: the package and its templates, and no stack, test or benchmark code.

Built as a user's pip builds it: `pip wheel` runs the build backend (hatchling) in an isolated
environment fetched from the package index, so the project's own settings decide what ships.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.network
def test_the_wheel_holds_the_package_and_nothing_of_the_stack_or_tests(
    tmp_path: Path, package_index: None
) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.endswith(".dist-info/RECORD")}

    assert {top for top in tops if not top.endswith(".dist-info")} == {"pipeline"}
    # Every module of the package, and besides them only the templates' serving app.
    modules = {name for name in names if name.endswith(".py") and "/_dockerfiles/" not in name}
    assert modules == {str(path.relative_to(ROOT)) for path in (ROOT / "pipeline").rglob("*.py")}
    assert "pipeline/_dockerfiles/common/.dockerignore" in names
    assert not [name for name in names if "devstack" in name or "conftest" in name]
