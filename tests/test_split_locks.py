"""`pipeline split` on the lock files ML teams keep: uv.lock, poetry.lock, pdm.lock, pylock.toml,
Pipfile.lock and conda's environment.yml (real public files: data/requirements/locks/README.md).

Each lock's packages become pinned, hashed requirement lines in exactly one layer; where the
lock records who needs whom, the base is closed under that graph; where it does not, split
says so. Real pip then installs the base alone in hash-checking mode, and the app on top.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import docker
import pytest
from packaging.utils import canonicalize_name

from pipeline.cli import main
from pipeline.project.dockerfile import parse_file
from pipeline.requirements import read_requirements, split_requirements
from tests.test_split_real import frozen, pins, pip

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCKS = Path(__file__).parent / "data" / "requirements" / "locks"
SOURCES = {
    "uv": "uv/uv.lock",
    "poetry": "poetry/poetry.lock",
    "pdm": "pdm/pdm.lock",
    "pylock": "pylock/pylock.toml",
    "pipenv": "pipenv/Pipfile.lock",
    "conda": "conda/environment.yml",
}
GRAPH = ("uv", "poetry", "pdm")  # the locks that record the dependency graph
HASHED = ("uv", "poetry", "pdm", "pylock", "pipenv")


def project(tmp_path: Path, lock: str) -> Path:
    """A copy of the lock's project; returns its lock file."""
    source = LOCKS / SOURCES[lock]
    shutil.copytree(source.parent, tmp_path / "project")
    return tmp_path / "project" / source.name


def split_lock(tmp_path: Path, lock: str, **options: Any) -> tuple[Path, Path]:
    """Split the lock into tmp_path/out; returns (base file, app file)."""
    result = split_requirements(project(tmp_path, lock), tmp_path / "out", **options)
    for path, text in result.contents.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return tmp_path / "out" / "requirements-base.txt", tmp_path / "out" / "requirements-app.txt"


@pytest.mark.parametrize("lock", SOURCES)
def test_every_locked_package_lands_in_exactly_one_layer_with_its_hashes(
    tmp_path: Path, lock: str
) -> None:
    base_file, app_file = split_lock(tmp_path, lock)
    entries = read_requirements(LOCKS / SOURCES[lock]).entries
    base, app = read_requirements(base_file).entries, read_requirements(app_file).entries
    assert Counter(e.line for e in base) + Counter(e.line for e in app) == Counter(
        e.line for e in entries
    )
    assert not {e.name for e in base} & {e.name for e in app}
    if lock in HASHED:  # every package pinned and hashed, as pip's hash-checking mode needs
        assert all(e.pinned and e.hashes for e in entries)
    if lock in GRAPH:  # what a base package needs is in the base
        base_names = {e.name for e in base}
        assert {e.name for e in entries if set(e.via or ()) & base_names} <= base_names
        assert all(e.via is not None for e in entries)


def test_uv_lock_takes_the_projects_closure_with_its_extras(tmp_path: Path) -> None:
    parsed = read_requirements(LOCKS / SOURCES["uv"])
    names = {e.name for e in parsed.entries}
    assert "sk-server" not in names  # the virtual project itself installs nothing
    # fastapi[standard] and ray[serve]: the extras' packages are in, with their graph
    assert {"uvicorn", "uvloop", "fastapi-cli", "aiohttp-cors", "py-spy"} <= names
    by_name = {e.name: e for e in parsed.entries}
    assert by_name["uvloop"].marker  # uvloop has no Windows wheels: uv's edge marker is kept
    assert "uvicorn" in (by_name["uvloop"].via or ())
    result = split_requirements(LOCKS / SOURCES["uv"], tmp_path)
    assert set(result.base.packages) == {
        "joblib", "numpy", "pandas", "python-dateutil", "pytz", "scikit-learn", "scipy", "six",
        "threadpoolctl", "tzdata",
    }  # fmt: skip
    assert result.closure["six"] == ("python-dateutil",)
    assert result.warnings == []


def test_poetry_lock_takes_the_main_group_and_says_what_it_left(tmp_path: Path) -> None:
    result = split_requirements(LOCKS / SOURCES["poetry"], tmp_path)
    base = set(result.base.packages)
    assert {"tensorflow", "keras", "numpy", "scikit-learn", "h5py", "ml-dtypes"} <= base
    # keras needs rich, rich needs pygments: the closure takes them, the name rules never would
    assert {"rich", "pygments", "optree", "absl-py"} <= set(result.closure)
    assert {"fastapi", "uvicorn", "ipykernel"} <= set(result.app.packages)
    colorama = next(e for e in read_requirements(LOCKS / SOURCES["poetry"]).entries
                    if e.name == "colorama")  # fmt: skip
    assert colorama.marker == 'sys_platform == "win32" or platform_system == "Windows"'


def test_hashed_locks_without_a_graph_are_split_with_a_warning(tmp_path: Path) -> None:
    for lock in ("pylock", "pipenv"):
        result = split_requirements(LOCKS / SOURCES[lock], tmp_path)
        [warning] = [w for w in result.warnings if "no dependency graph" in w]
        assert "set split.resolve (--resolve)" in warning
    result = split_requirements(LOCKS / SOURCES["pylock"], tmp_path)
    assert any("salary-prediction (the directory .) is local code" in w for w in result.warnings)


def test_groups_are_selected_by_option_and_the_rest_named(tmp_path: Path) -> None:
    source = LOCKS / SOURCES["pipenv"]
    default = split_requirements(source, tmp_path)
    assert "flake8" not in default.app.packages
    assert any("groups not selected, so not in either layer: dev" in w for w in default.warnings)
    dev = split_requirements(source, tmp_path, groups=["dev"])
    assert {"flake8", "autopep8", "pycodestyle"} <= set(dev.app.packages)


def test_conda_environment_names_its_conda_packages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = project(tmp_path, "conda")
    assert main(["split", "-C", str(source.parent), "-r", source.name]) == 0
    out = capsys.readouterr()
    assert (
        "conda packages, not installed by pip and in neither layer (the image's conda"
        " environment must provide them): python=3.12, pip, ipykernel" in out.err
    )
    base = read_requirements(source.parent / "requirements-base.txt").entries
    assert {"torch", "torchvision", "timm", "torchgeo", "open-clip-torch"} <= {e.name for e in base}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("Pipfile", "[packages]\n", "Pipfile: a Pipfile is not a file split reads; make one with"
         " `pipenv lock`"),
        ("uv.lock", "version = 2\n", "uv.lock: not a uv.lock split can read (lock version 2,"
         " split knows version 1); make a requirements file with `uv export --format"
         " requirements-txt --no-emit-project -o requirements.txt`"),
        ("poetry.lock", "[[package]]\n", "poetry.lock: not a poetry.lock split can read (no"
         " 'metadata'); make a requirements file with `poetry export -f requirements.txt"),
        ("pylock.toml", 'lock-version = "2.0"\n', "pylock.toml: not a pylock split can read ("),
        ("environment.yml", "dependencies:\n  - python=3.12\n", "environment.yml: no `pip:`"
         " section: conda installs all of it"),
    ],
    ids=["pipfile", "uv-lock-v2", "poetry-no-metadata", "pylock-v2", "conda-only"],
)  # fmt: skip
def test_a_format_split_cannot_read_gets_one_message_with_the_export_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    assert main(["split", "-C", str(tmp_path), "-r", name]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1


# Real pip, hash-checking mode, the network: the light locks


@pytest.mark.network
@pytest.mark.parametrize(
    ("lock", "resolve"), [("pipenv", False), ("pdm", False), ("pylock", True)]
)  # a pylock.toml without a graph takes it from pip's resolver
def test_the_base_installs_alone_then_the_app_in_hash_mode(
    tmp_path: Path, lock: str, resolve: bool, package_index: None
) -> None:
    base_file, app_file = split_lock(tmp_path, lock, resolve=resolve)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")],
                   check=True)  # fmt: skip
    python = str(tmp_path / "venv" / "bin" / "python")
    cache = ["--cache-dir", str(tmp_path / "cache"), "--no-compile"]
    pip("install", *cache, "--require-hashes", "-r", str(base_file), python=python)
    assert frozen(python) == pins(base_file)  # the base alone: nothing more than itself
    pip("install", *cache, "--require-hashes", "-r", str(app_file), python=python)
    assert frozen(python) == pins(base_file) | pins(app_file)


DOCKERFILES = sorted(
    [
        *(REPO_ROOT / "dockerfiles").glob("*/Dockerfile"),
        *(REPO_ROOT / "examples").glob("*/Dockerfile"),
    ]
)


@pytest.fixture(scope="module")
def pdm_app_wheels(tmp_path_factory: pytest.TempPathFactory, package_index: None) -> Path:
    """The wheels of pdm's app half, downloaded once for every template, checked against the
    lock's hashes. A download the network garbled (one CI run: matplotlib's wheel arrived with
    another sha256, which pip does not retry) is fetched again; a wrong hash in the split fails
    all three tries."""
    _, app_file = split_lock(tmp_path_factory.mktemp("pdm-app"), "pdm")
    wheels = tmp_path_factory.mktemp("pdm-app-wheels")
    for _ in range(3):
        done = pip("download", "--no-deps", "--require-hashes", "--no-cache-dir", "-d",
                   str(wheels), "-r", str(app_file), check=False)  # fmt: skip
        if done.returncode == 0:
            return wheels
    pytest.fail(f"pip cannot download pdm's app half:\n{done.stderr}", pytrace=False)


@pytest.mark.network
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_the_templates_install_a_hashed_app_half_apart_from_the_base(
    tmp_path: Path, dockerfile: Path, pdm_app_wheels: Path
) -> None:
    """Each `app-install` stage's install, run as written (from the downloaded wheels, still in
    hash mode): no base under it, so a hashed app half (pdm's lock: its app packages need base
    packages) installs exactly its own lines."""
    _, app_file = split_lock(tmp_path, "pdm")
    target = tmp_path / "app-deps"
    command = re.sub(
        r"/opt/venv/bin/(pip|python -m pip) install ",
        f"'{sys.executable}' -m pip --isolated install --no-index --find-links {pdm_app_wheels} ",
        app_install_command(dockerfile),
    )
    assert "--no-index" in command, command
    command = command.replace("/opt/app-deps", str(target))
    command = command.replace("/tmp/requirements-app.txt", str(app_file))
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listed = pip("freeze", "--path", str(target)).stdout.splitlines()
    installed = {tuple(line.split("==")) for line in listed if "==" in line}
    assert {(canonicalize_name(n), v) for n, v in installed} == pins(app_file)


def app_install_command(dockerfile: Path) -> str:
    """The `app-install` stage's RUN that installs requirements-app.txt, continuations joined."""
    stage = parse_file(dockerfile).stage("app-install")
    assert stage is not None, f"{dockerfile}: no app-install stage"
    [run] = [i for i in stage.instructions if i.keyword == "RUN" and "--target" in i.value]
    return run.value


@pytest.mark.stack
@pytest.mark.network
@pytest.mark.parametrize(
    "dockerfile",
    [d for d in DOCKERFILES if "ensurepip" in app_install_command(d)],
    ids=lambda p: p.parent.name,
)
def test_the_app_install_brings_its_own_pip_to_a_base_image_without_one(
    tmp_path: Path, dockerfile: Path, docker_client: docker.DockerClient, package_index: None
) -> None:
    """A user's BASE_IMAGE may carry Python and its stdlib but no pip: the venv without pip then
    gets its own, and the scripts still run the image's venv."""
    requirements = tmp_path / "requirements-app.txt"
    requirements.write_text("python-dotenv==1.0.1\n")
    # Every pip the image has, package and metadata (Debian's python3 keeps one apart from
    # pip's own), as on a base that never installed it.
    no_pip = (
        "while python -c 'import pip' 2>/dev/null; do"
        " where=\"$(python -c 'import os, pip; print(os.path.dirname(pip.__file__))')\";"
        ' rm -rf "$where" "$where"-*.dist-info; done'
    )
    script = f"{no_pip} && {app_install_command(dockerfile)} && head -n 1 /opt/app-deps/bin/dotenv"
    output = docker_client.containers.run(
        "python:3.11-slim", ["sh", "-c", script], network_mode="host", remove=True,
        volumes={str(requirements): {"bind": "/tmp/requirements-app.txt", "mode": "ro"}},
    )  # fmt: skip
    assert output.decode().splitlines()[-1] == "#!/opt/venv/bin/python"


# Indexes and direct references, as the tools write them


UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "svc"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "torch" }, { name = "vision" }]

[package.optional-dependencies]
gpu = [{ name = "triton" }]

[[package]]
name = "torch"
version = "2.6.0+cpu"
source = { registry = "https://download.pytorch.org/whl/cpu" }
wheels = [{ url = "https://download.pytorch.org/whl/cpu/t.whl", hash = "sha256:aaaa" }]

[[package]]
name = "triton"
version = "3.2.0"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.pythonhosted.org/t.whl", hash = "sha256:bbbb" }]

[[package]]
name = "vision"
version = "0.1.0"
source = { git = "https://github.com/o/v?rev=main#0123456789abcdef0123456789abcdef01234567" }
dependencies = [{ name = "torch" }]
"""


def test_uv_lock_indexes_git_sources_and_extras(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    result = split_requirements(tmp_path / "uv.lock", tmp_path / "out")
    assert result.base.packages == ["torch", "vision"]  # vision requires torch: its family
    assert result.warnings == [
        "uv.lock: extras not selected, so not in either layer: gpu; select them with"
        " split.extras (--extras) if the image needs them",
        "uv.lock: the project itself (svc) is not in either layer: install it after them"
        " (`pip install --no-deps .`)",
    ]
    base = result.contents[tmp_path / "out" / "requirements-base.txt"]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu\n" in base
    assert "torch==2.6.0+cpu --hash=sha256:aaaa\n" in base
    assert "vision @ git+https://github.com/o/v@0123456789abcdef0123456789abcdef01234567\n" in base
    gpu = split_requirements(tmp_path / "uv.lock", tmp_path / "out", extras=["gpu"])
    assert gpu.base.packages == ["torch", "triton", "vision"]


def test_a_pyproject_with_a_lock_beside_it_says_so(tmp_path: Path) -> None:
    shutil.copytree(LOCKS / "uv", tmp_path / "uv")
    result = split_requirements(tmp_path / "uv" / "pyproject.toml", tmp_path)
    assert (
        "pyproject.toml: uv.lock beside it pins every package with its hashes and graph: point"
        " split.requirements at uv.lock to split that instead of these ranges" in result.warnings
    )
