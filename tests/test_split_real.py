"""`pipeline split` on real public lock files (sources in data/requirements/real/README.md).

The lock files give the dependency graph (`# via`); the base layer must be closed under it,
take the frameworks' families, and install on its own with real pip in hash-checking mode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.cli import main
from pipeline.requirements import is_base_package, read_requirements, split_requirements

REAL = Path(__file__).parent / "data" / "requirements" / "real"
LOCKS = {
    "feast": REAL / "feast" / "requirements.txt",
    "jax": REAL / "jax" / "requirements_lock_3_12.txt",
    "vllm-test": REAL / "vllm-test" / "test.txt",
    "rpycocotools": REAL / "rpycocotools" / "requirements.txt",
}
WEB = ("fastapi", "uvicorn", "starlette", "pydantic", "pydantic-core")


def layer_names(path: Path) -> set[str]:
    return {e.name for e in read_requirements(path).entries if e.name}


@pytest.mark.parametrize("lock", LOCKS)
def test_the_base_is_closed_under_the_lock_files_graph(tmp_path: Path, lock: str) -> None:
    source = LOCKS[lock]
    result = split_requirements(source, tmp_path)
    for path, text in result.contents.items():
        path.write_text(text)
    entries = read_requirements(source).entries
    base = read_requirements(tmp_path / "requirements-base.txt").entries
    app = read_requirements(tmp_path / "requirements-app.txt").entries
    # every line, with its pins, markers, extras and hashes, in exactly one layer
    assert Counter(e.line for e in base) + Counter(e.line for e in app) == Counter(
        e.line for e in entries
    )
    base_names = {e.name for e in base}
    assert not base_names & {e.name for e in app}
    needed = {e.name for e in entries if set(e.via or ()) & base_names}
    assert needed <= base_names  # what a base package needs is in the base
    assert not base_names & set(WEB)


def test_packages_needed_by_base_packages_move_to_the_base_and_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(LOCKS["feast"], tmp_path / "requirements.txt")
    assert main(["--json", "-C", str(tmp_path), "split"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["outputs"]["base"]["packages"] == [
        "numpy",
        "pandas",
        "pyarrow",
        "python-dateutil",
        "pytz",
        "six",
        "tzdata",
    ]
    assert payload["closure"] == {
        "python-dateutil": ["pandas"],
        "pytz": ["pandas"],
        "six": ["python-dateutil"],
        "tzdata": ["pandas"],
    }
    assert main(["-C", str(tmp_path), "split"]) == 0
    assert (
        "base by closure (base packages need them): python-dateutil, pytz, six, tzdata"
        in capsys.readouterr().out
    )


def test_jax_plugins_tpu_runtime_and_tensorflow_land_in_the_base(tmp_path: Path) -> None:
    result = split_requirements(LOCKS["jax"], tmp_path)
    base, app = set(result.base.packages), set(result.app.packages)
    family = {"jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "libtpu"}
    assert family | {"tensorflow", "keras", "ml-dtypes", "nvidia-cudnn-cu12"} <= base
    assert {"pytest", "hypothesis", "matplotlib"} <= app
    # keras and tensorflow need these; with the name rules alone they were app packages
    assert {"absl-py", "optree", "protobuf", "grpcio"} <= set(result.closure)


def test_packages_built_on_torch_join_it_from_the_graph(tmp_path: Path) -> None:
    result = split_requirements(LOCKS["vllm-test"], tmp_path)
    base = set(result.base.packages)
    assert {"peft", "timm", "torchaudio", "vector-quantize-pytorch", "bitsandbytes"} <= base
    by_graph = {"encodec", "vocos", "tensorizer", "fastsafetensors", "runai-model-streamer"}
    # no name rule knows these: only the graph says they require torch
    assert not [name for name in by_graph if is_base_package(name)]
    assert {name: result.family.get(name) for name in by_graph} == dict.fromkeys(
        by_graph, ("torch",)
    )
    assert {"pydantic", "pytest", "httpx"}.isdisjoint(base)


def test_base_remove_stops_the_family_but_not_the_closure(tmp_path: Path) -> None:
    result = split_requirements(LOCKS["vllm-test"], tmp_path, base_remove=["torch", "vocos"])
    assert result.family == {}
    assert "torch" in result.base.packages  # still needed by torchvision, accelerate, ...
    assert result.closure["torch"][:3] == ("accelerate", "bitsandbytes", "peft")
    result = split_requirements(LOCKS["vllm-test"], tmp_path, base_remove=["vocos"])
    assert "encodec" in result.family
    assert "vocos" not in result.family and "vocos" in result.app.packages


# Real pip, hash-checking mode, the network (the `package_index` fixture, in conftest.py)


def pip(
    *args: str, python: str = sys.executable, check: bool = True
) -> subprocess.CompletedProcess:
    """This interpreter's pip working on `python`'s environment."""
    # --isolated: no site configuration (local wheel mirrors would not match the lock's hashes)
    command = [sys.executable, "-m", "pip", "--python", python, "--isolated"]
    done = subprocess.run(
        [*command, "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def installable(lock: str, tmp_path: Path) -> Path:
    """The lock as a project's requirements.txt; the feast lock less sqlalchemy, whose
    greenlet the published lock lacks (see the README)."""
    text = LOCKS[lock].read_text()
    if lock == "feast":
        start = text.index("sqlalchemy[mypy]==")
        text = text[:start] + text[text.index("\nstarlette==", start) + 1 :]
    source = tmp_path / "requirements.txt"
    source.write_text(text)
    return source


@pytest.mark.network
@pytest.mark.parametrize("lock", ["feast", "rpycocotools"])
def test_base_alone_then_app_install_exactly_the_lock_in_hash_mode(
    tmp_path: Path, lock: str, package_index: None
) -> None:
    source = installable(lock, tmp_path)
    assert main(["split", "-C", str(tmp_path), "-o", "out"]) == 0
    venv = ["-m", "venv", "--without-pip", str(tmp_path / "venv")]
    subprocess.run([sys.executable, *venv], check=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    cache = ["--cache-dir", str(tmp_path / "cache"), "--no-compile"]
    for layer in ("base", "app"):
        layer_file = str(tmp_path / "out" / f"requirements-{layer}.txt")
        pip("install", *cache, "--require-hashes", "-r", layer_file, python=python)
        if layer == "base":  # the base layer alone: nothing more than itself
            assert frozen(python) == pins(tmp_path / "out" / "requirements-base.txt")
    assert frozen(python) == pins(source)


@pytest.mark.network
def test_a_base_of_roots_alone_fails_in_hash_mode(tmp_path: Path, package_index: None) -> None:
    """What split did before the closure, with the error the issue quotes: the test can fail."""
    roots = [e.line for e in read_requirements(LOCKS["feast"]).entries if is_base_package(e.name)]
    assert len(roots) == 3  # numpy, pandas, pyarrow
    (tmp_path / "roots.txt").write_text("\n".join(roots) + "\n")
    done = pip("install", "--dry-run", "--ignore-installed", "--require-hashes", "-r",
               str(tmp_path / "roots.txt"), check=False)  # fmt: skip
    assert done.returncode != 0
    assert "all requirements must have their versions pinned with ==" in done.stderr


def frozen(python: str) -> set[tuple[str, str]]:
    lines = pip("freeze", python=python).stdout.splitlines()
    found = {tuple(line.split("==")) for line in lines if "==" in line}
    return {(canonicalize_name(n), v) for n, v in found if n not in ("pip", "setuptools")}


def pins(path: Path) -> set[tuple[str, str]]:
    entries = read_requirements(path).entries
    pinned = set()
    for entry in entries:
        requirement = Requirement(entry.text)
        if entry.marker and not Marker(entry.marker).evaluate():
            continue
        pinned.add(
            (canonicalize_name(requirement.name), str(next(iter(requirement.specifier)).version))
        )
    return pinned


# A plain file (no `# via`): pip's resolver gives the graph when split.resolve is on


@pytest.mark.network
def test_pips_resolver_gives_a_plain_file_its_graph(tmp_path: Path, package_index: None) -> None:
    source = tmp_path / "requirements.txt"
    source.write_text("jax==0.4.35\noptax==0.2.4\nopt-einsum==3.4.0\nfastapi==0.115.0\n")
    by_name = split_requirements(source, tmp_path)
    assert by_name.base.packages == ["jax"]
    result = split_requirements(source, tmp_path, resolve=True)
    assert result.warnings == []
    assert result.base.packages == ["jax", "opt-einsum", "optax"]
    assert result.family == {"optax": ("jax",)}  # optax requires jax
    assert result.closure == {"opt-einsum": ("jax",)}
    assert result.app.packages == ["fastapi"]


def test_when_pip_cannot_resolve_the_name_rules_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    source = tmp_path / "requirements.txt"
    source.write_text("--no-index\njax==0.4.35\noptax==0.2.4\n")  # offline: nothing to find
    result = split_requirements(source, tmp_path, resolve=True)
    assert result.base.packages == ["jax"]
    [warning] = result.warnings
    assert warning.startswith("requirements.txt: split.resolve: pip could not resolve it (")
    assert warning.endswith("the name rules alone decide the base")
