"""`pipeline split`: real requirements files in, two layer files out that pip reads back."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.cli import main
from pipeline.requirements import (
    is_base_package,
    read_requirements,
    split_requirements,
    write_outputs,
)

DATA = Path(__file__).parent / "data" / "requirements"
SOURCES = {
    "pip-compile": "requirements.txt",
    "service": "requirements.txt",
    "pyproject": "pyproject.toml",
}
OUTPUTS = [
    "requirements-base.txt",
    "constraints-base.txt",
    "requirements-app.txt",
    "constraints-app.txt",
]


def project(tmp_path: Path, fixture: str) -> Path:
    shutil.copytree(DATA / fixture, tmp_path, dirs_exist_ok=True)
    if SOURCES[fixture] != "requirements.txt":
        (tmp_path / "pipeline.yaml").write_text(f"split:\n  requirements: {SOURCES[fixture]}\n")
    return tmp_path


def split(tmp_path: Path, *args: str) -> int:
    return main(["split", "-C", str(tmp_path), *args])


def lines_of(path: Path) -> list[str]:
    """Entries and options of a file, comments and includes aside."""
    return [line for line in path.read_text().splitlines() if not line.startswith(("#", "-c "))]


def entry_lines(path: Path) -> Counter[tuple[str, bool]]:
    return Counter((e.line, e.constraint) for e in read_requirements(path).entries)


def option_lines(path: Path) -> list[str]:
    return [line for line in lines_of(path) if line.startswith("--")]


# Round trip


@pytest.mark.parametrize("fixture", SOURCES)
def test_every_requirement_lands_in_exactly_one_layer(tmp_path: Path, fixture: str) -> None:
    root = project(tmp_path, fixture)
    assert split(root) == 0
    source = entry_lines(root / SOURCES[fixture])
    base = entry_lines(root / "requirements-base.txt")
    app = entry_lines(root / "requirements-app.txt")
    assert base + app == source
    assert not base & app
    source_options = [o.flag for o in read_requirements(root / SOURCES[fixture]).options]
    assert len(option_lines(root / "requirements-base.txt")) == len(source_options)
    assert option_lines(root / "requirements-base.txt") == option_lines(
        root / "requirements-app.txt"
    )


def test_pins_markers_extras_and_hashes_survive(tmp_path: Path) -> None:
    root = project(tmp_path, "pip-compile")
    assert split(root) == 0
    base = lines_of(root / "requirements-base.txt")
    app = lines_of(root / "requirements-app.txt")
    torch = next(line for line in base if line.startswith("torch=="))
    assert torch.startswith("torch==2.3.1+cu121 --hash=sha256:")
    assert torch.count("--hash=sha256:") == 3
    assert any(
        line.startswith('triton==2.3.1 ; platform_system == "Linux" and platform_machine')
        for line in base
    )
    assert any(line.startswith("uvicorn[standard]==0.30.1 --hash=sha256:") for line in app)
    assert not any("# via" in line for line in base + app)


def test_includes_constraints_urls_vcs_and_editables_are_routed(tmp_path: Path) -> None:
    root = project(tmp_path, "service")
    assert split(root) == 0
    base = lines_of(root / "requirements-base.txt")
    app = lines_of(root / "requirements-app.txt")
    assert 'torch==2.3.1 ; sys_platform == "linux"' in base
    assert 'torch==2.2.2 ; sys_platform == "darwin" and platform_machine == "x86_64"' in base
    assert "pillow==10.4.0" in base  # from the -r include
    assert any(line.startswith("flash-attn @ git+https://github.com/Dao-AILab/") for line in base)
    assert "uvicorn[standard]==0.30.1" in app
    assert "pydantic-settings>=2.3.4" in app  # inline comment gone
    # peft is built on torch: the base, by family, even from a VCS reference
    assert "git+https://github.com/huggingface/peft.git@v0.11.1#egg=peft" in base
    assert "-e ./libs/featurizer" in app
    assert any(line.startswith("en-core-web-sm @ https://github.com/explosion/") for line in app)
    assert "-c constraints-base.txt" in (root / "requirements-base.txt").read_text()
    assert lines_of(root / "constraints-base.txt") == ["numpy==1.26.4"]
    assert lines_of(root / "constraints-app.txt") == [
        "filelock==3.15.4",
        "networkx==3.3",
        "typing-extensions==4.12.2",
    ]


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fixture", SOURCES)
def test_pip_reads_the_outputs(
    tmp_path: Path, fixture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pip has no offline "parse only" command, so this uses its own requirements-file parser.
    from pip._internal.network.session import PipSession
    from pip._internal.req.constructors import install_req_from_parsed_requirement
    from pip._internal.req.req_file import parse_requirements

    root = project(tmp_path, fixture)
    assert split(root) == 0
    monkeypatch.chdir(root)  # pip reads `-e ./path` against the working directory
    session = PipSession()
    for layer in ("base", "app"):
        ours = read_requirements(root / f"requirements-{layer}.txt").entries
        parsed = parse_requirements(f"requirements-{layer}.txt", session=session)
        pips = [install_req_from_parsed_requirement(p) for p in parsed]
        assert [(r.name, r.constraint) for r in pips] == [(e.name, e.constraint) for e in ours]
        hashes = [sorted(r.hash_options.get("sha256", [])) for r in pips]
        assert hashes == [sorted(h.removeprefix("sha256:") for h in e.hashes) for e in ours]
        for requirement, entry in zip(pips, ours, strict=True):
            assert str(requirement.markers or "") == entry.marker
            if requirement.link and not (requirement.req and requirement.req.url):  # no `name @`
                # pip turns a local path into a file: URL of the same place
                assert requirement.link.url.endswith(entry.text.removeprefix("."))
            else:
                assert described(requirement.req) == described(Requirement(entry.text))


def described(requirement: Requirement) -> tuple[str, list[str], str, str | None]:
    name = canonicalize_name(requirement.name)
    return (name, sorted(requirement.extras), str(requirement.specifier), requirement.url)


def test_pip_line_syntax(tmp_path: Path) -> None:
    (tmp_path / "extra.txt").write_text("structlog==24.2.0\n")
    (tmp_path / "requirements.txt").write_text(
        "-i https://pypi.org/simple\n"
        "--extra-index-url=https://download.pytorch.org/whl/cpu --pre\n"
        "-rextra.txt\n"
        "fastapi==0.111.0 #egg-less comment\n"
        "url-dep @ https://example.com/pkg.whl#sha256=ab12\n"
        "# a comment ends a continuation \\\n"
        "numpy==1.26.4 \\\n"
        "    --hash sha256:ab12 \\\n"
        "    --hash=sha256:cd34 \\"
    )
    parsed = read_requirements(tmp_path / "requirements.txt")
    assert [(e.line, e.origin) for e in parsed.entries] == [
        ("structlog==24.2.0", "extra.txt:1"),
        ("fastapi==0.111.0", "requirements.txt:4"),
        ("url-dep @ https://example.com/pkg.whl#sha256=ab12", "requirements.txt:5"),
        ("numpy==1.26.4 --hash=sha256:ab12 --hash=sha256:cd34", "requirements.txt:7"),
    ]
    assert [(o.flag, o.value) for o in parsed.options] == [
        ("--index-url", "https://pypi.org/simple"),
        ("--extra-index-url", "https://download.pytorch.org/whl/cpu"),
        ("--pre", None),
    ]


def test_via_annotations_in_the_styles_lock_tools_write(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "numpy==1.26.4 \\\n    --hash=sha256:ab12\n"
        "    # via\n    #   -r requirements.in\n    #   pandas\n    #   Scikit_Learn\n"
        "pandas==2.2.2\n    # via -r requirements.in\n"
        "joblib==0.14.1            # via scikit-learn, myapp (pyproject.toml)\n"
        "scikit-learn==1.5.0\n"
        "six==1.16.0\n    # via python-dateutil\n\n"
        "# The following packages are considered to be unsafe in a requirements file:\n"
        "#   setuptools\n"
    )
    entries = read_requirements(tmp_path / "requirements.txt").entries
    assert {e.name: e.via for e in entries} == {
        "numpy": ("pandas", "scikit-learn"),
        "pandas": (),  # a root of the lock: named by a file only
        "joblib": ("scikit-learn", "myapp"),
        "scikit-learn": None,  # nothing said
        "six": ("python-dateutil",),
    }


def test_the_project_itself_never_joins_a_frameworks_family(tmp_path: Path) -> None:
    # pip-compile writes a non-editable `.` as `name @ file:///...`
    (tmp_path / "requirements.txt").write_text(
        "myapp @ file:///srv/myapp\n    # via -r requirements.in\n"
        "timm==1.0.11\n    # via myapp\n"
        "torch==2.6.0\n    # via\n    #   myapp\n    #   timm\n"
    )
    result = split_requirements(tmp_path / "requirements.txt", tmp_path)
    assert (result.base.packages, result.app.packages) == (["timm", "torch"], ["myapp"])


# Determinism


def test_an_app_edit_leaves_the_base_file_byte_identical(tmp_path: Path) -> None:
    root = project(tmp_path, "service")
    assert split(root) == 0
    before = {name: (root / name).read_bytes() for name in OUTPUTS}
    source = root / "requirements.txt"
    text = source.read_text().replace("fastapi==0.111.0", "fastapi==0.112.0")
    source.write_text(text + "httpx==0.27.0\n")
    (root / "requirements" / "constraints.txt").write_text("numpy==1.26.4\nfilelock==3.16.0\n")
    assert split(root) == 0
    assert (root / "requirements-base.txt").read_bytes() == before["requirements-base.txt"]
    assert (root / "constraints-base.txt").read_bytes() == before["constraints-base.txt"]
    assert (root / "requirements-app.txt").read_bytes() != before["requirements-app.txt"]
    assert (root / "constraints-app.txt").read_bytes() != before["constraints-app.txt"]


def test_running_twice_gives_identical_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "pip-compile")
    assert split(root) == 0
    first = {name: (root / name).read_bytes() for name in OUTPUTS[::2]}
    capsys.readouterr()
    assert split(root) == 0
    assert {name: (root / name).read_bytes() for name in OUTPUTS[::2]} == first
    assert "all outputs up to date" in capsys.readouterr().out


def test_output_order_does_not_depend_on_input_order(tmp_path: Path) -> None:
    source = tmp_path / "requirements.txt"
    lines = ["fastapi==0.111.0", 'torch==2.3.1 ; sys_platform == "linux"', "Numpy==1.26.4"]
    lines += ['torch==2.2.2 ; sys_platform == "darwin"', "--extra-index-url https://x.test/simple"]
    source.write_text("\n".join(lines) + "\n")
    first = split_requirements(source, tmp_path).contents
    source.write_text("\n".join(reversed(lines)) + "\n")
    second = split_requirements(source, tmp_path).contents
    assert first == second
    assert first[tmp_path / "requirements-base.txt"].splitlines()[2:] == [
        "--extra-index-url https://x.test/simple",
        "Numpy==1.26.4",
        'torch==2.2.2 ; sys_platform == "darwin"',
        'torch==2.3.1 ; sys_platform == "linux"',
    ]


def test_header_names_the_source_without_timestamps(tmp_path: Path) -> None:
    root = project(tmp_path, "pyproject")
    assert split(root) == 0
    assert (root / "requirements-base.txt").read_text().splitlines()[:2] == [
        "# requirements-base.txt: the base layer of pyproject.toml",
        "# Generated by `python -m pipeline split`; edit pyproject.toml and run it again.",
    ]


# The base list


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("torch", True),
        ("Scikit_Learn", True),
        ("opencv-python-headless", True),
        ("nvidia-cudnn-cu12", True),
        ("tensorflow-io-gcs-filesystem", True),
        ("onnxruntime-gpu", True),
        ("fastapi", False),
        ("torch-model-archiver", False),
    ],
)
def test_builtin_base_list(name: str, expected: bool) -> None:
    assert is_base_package(name) is expected


# Named in issue 12: frameworks, kernels and the torch ecosystem that used to land in the app.
FAMILIES = [
    "tf-nightly", "keras-nightly", "tb-nightly", "tf-keras", "jax-cuda12-plugin",
    "jax-cuda12-pjrt", "jax-rocm60-plugin", "libtpu", "libtpu-nightly", "flashinfer-python",
    "exllamav2", "exllamav3", "llama-cpp-python", "llama_cpp_python_cuda", "auto-gptq",
    "autoawq", "autoawq-kernels", "faiss-cpu", "faiss-gpu", "torchao", "torchcodec",
    "intel-extension-for-pytorch", "lightning", "pytorch-lightning", "torchmetrics", "kornia",
    "timm", "peft", "open-clip-torch", "ultralytics", "vector-quantize-pytorch",
    # issue 26: built on torch or onnxruntime, or large native code of their own
    "kokoro", "spacy", "ctranslate2", "faster-whisper", "pyannote-audio", "pyannote.audio",
    "gensim", "grad-cam", "openai-whisper", "thinc", "blis", "speechbrain",
]  # fmt: skip
NEVER_BASE = ["fastapi", "uvicorn", "starlette", "pydantic", "pydantic-settings", "torchserve"]


@pytest.mark.parametrize("name", FAMILIES)
def test_families_are_base_by_name_alone(name: str) -> None:
    """What a file without a dependency graph falls back on."""
    assert is_base_package(name)


@pytest.mark.parametrize("name", NEVER_BASE)
def test_the_serving_stack_is_never_base_by_name(name: str) -> None:
    assert not is_base_package(name)
    assert is_base_package(name, add=[name])  # unless the project says so


def test_base_add_wins_over_remove_which_trims_the_builtin_list() -> None:
    assert is_base_package("fastapi", add=["fast*"])
    assert not is_base_package("tensorflow-text", remove=["TensorFlow_*"])
    assert is_base_package("tensorflow-text", add=["tensorflow-text"], remove=["tensorflow-*"])


def test_config_adds_and_removes_with_globs(tmp_path: Path) -> None:
    root = project(tmp_path, "service")
    (root / "pipeline.yaml").write_text(
        "split:\n  base_add: ['uvicorn*', prometheus_client]\n  base_remove: ['torch*']\n"
    )
    assert split(root) == 0
    base = lines_of(root / "requirements-base.txt")
    app = lines_of(root / "requirements-app.txt")
    assert "uvicorn[standard]==0.30.1" in base
    assert "prometheus-client==0.20.0" in base
    assert "torchvision==0.18.1" in app
    assert 'torch==2.3.1 ; sys_platform == "linux"' in app


def test_set_flag_adds_to_the_base(tmp_path: Path) -> None:
    root = project(tmp_path, "pyproject")
    assert split(root, "--set", "split.base_add=fast*,uvicorn") == 0
    assert lines_of(root / "requirements-app.txt") == []
    assert "fastapi>=0.111,<1" in lines_of(root / "requirements-base.txt")


# Warnings


def test_unpinned_base_package_warns_unless_a_constraint_pins_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "service")
    assert split(root, "--json") == 0
    captured = capsys.readouterr()
    warnings = json.loads(captured.out)["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("requirements.txt:19: base package pandas is not pinned")
    assert warnings[1].startswith("requirements.txt:27: base package peft is not pinned")
    assert f"warning: {warnings[0]}" in captured.err
    assert "numpy" not in captured.err  # pinned in constraints.txt
    assert "pydantic-settings" not in captured.err  # app packages may float


@pytest.mark.parametrize(
    ("line", "pinned"),
    [
        ("torch==2.3.1", True),
        ("torch===2.3.1", True),
        ("torch==2.3.*", False),
        ("torch>=2.3", False),
        ("torch @ git+https://github.com/pytorch/pytorch@v2.3.1", False),
        (f"torch @ git+https://github.com/pytorch/pytorch@{'a1' * 20}", True),
        ("torch @ https://download.pytorch.org/whl/torch-2.3.1-cp311-none-linux_x86_64.whl", True),
    ],
)
def test_what_counts_as_pinned(tmp_path: Path, line: str, pinned: bool) -> None:
    (tmp_path / "requirements.txt").write_text(line + "\n")
    result = split_requirements(tmp_path / "requirements.txt", tmp_path)
    assert (result.warnings == []) is pinned


# --check, --dry-run and writing


def test_check_fails_when_missing_or_stale_and_passes_when_fresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "pyproject")
    assert split(root, "--check") == 2
    err = capsys.readouterr().err
    assert "requirements-base.txt (missing), requirements-app.txt (missing)" in err
    assert "run `python -m pipeline split`" in err
    assert not (root / "requirements-base.txt").exists()

    assert split(root) == 0
    assert split(root, "--check") == 0

    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("fastapi>=0.111,<1", "fastapi>=0.112,<1"))
    capsys.readouterr()
    assert split(root, "--check") == 2
    err = capsys.readouterr().err
    assert "requirements-app.txt (out of date)" in err
    assert "requirements-base.txt" not in err


def test_dry_run_reports_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "pyproject")
    assert split(root, "--dry-run", "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["changed"] == ["requirements-base.txt", "requirements-app.txt"]
    assert not (root / "requirements-base.txt").exists()


def test_constraint_files_that_are_no_longer_needed_go_away(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "service")
    assert split(root) == 0
    source = root / "requirements.txt"
    source.write_text(source.read_text().replace("-c requirements/constraints.txt", ""))
    assert split(root, "--check") == 2
    assert "constraints-base.txt (no longer needed)" in capsys.readouterr().err
    assert split(root) == 0
    assert not (root / "constraints-base.txt").exists()
    assert "-c " not in (root / "requirements-base.txt").read_text()


def test_a_hand_written_constraints_file_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("torch==2.3.1\n")
    (tmp_path / "constraints-app.txt").write_text("requests==2.32.3\n")
    result = split_requirements(tmp_path / "requirements.txt", tmp_path)
    write_outputs(result)
    assert (tmp_path / "constraints-app.txt").read_text() == "requests==2.32.3\n"


def test_relative_find_links_follow_the_output_dir(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    (tmp_path / "requirements.txt").write_text("--find-links ./wheels\ntorch==2.3.1\n")
    assert split(tmp_path, "--output-dir", "docker/deps") == 0
    assert option_lines(tmp_path / "docker" / "deps" / "requirements-base.txt") == [
        "--find-links ../../wheels"
    ]


# Errors


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "error: requirements.txt: no such file"),
        (
            {"requirements.txt": "fastapi==0.111.0\n-r dev/extra.txt\n"},
            "error: requirements.txt:2: dev/extra.txt: no such file",
        ),
        (
            {
                "requirements.txt": "-r a.txt\n",
                "a.txt": "torch==2.3.1\n-c b.txt\n",
                "b.txt": "-r a.txt",
            },
            "error: b.txt:1: include loop: a.txt -> b.txt -> a.txt",
        ),
        (
            {"requirements.txt": "# models\nfastapi==0.111.0\ntorch=2.3.1\n"},
            "error: requirements.txt:3: cannot parse 'torch=2.3.1': Expected",
        ),
        (
            {"requirements.txt": "numpy==1.26.4 \\\n    --hash=sha256:zz\n"},
            "error: requirements.txt:1: --hash=sha256:zz: expected ALGORITHM:HEXDIGEST",
        ),
        (
            {"requirements.txt": "--use-pep517\n"},
            "error: requirements.txt:1: unsupported option '--use-pep517'",
        ),
        (
            {"requirements.txt": "-c constraints.txt\n", "constraints.txt": "-e ./lib\n"},
            "error: constraints.txt:1: '-e ./lib': pip takes only named, non-editable",
        ),
        (
            {"requirements.txt": "-r https://example.com/requirements.txt\n"},
            "error: requirements.txt:1: --requirement https://example.com/requirements.txt:"
            " remote includes are not supported",
        ),
        (
            {"requirements.txt": "./lib ; python_version >> '3'\n"},
            "error: requirements.txt:1: cannot parse \"./lib ; python_version >> '3'\"",
        ),
    ],
    ids=[
        "missing-file",
        "missing-include",
        "include-loop",
        "bad-line",
        "bad-hash",
        "unknown-option",
        "editable-constraint",
        "remote-include",
        "bad-marker",
    ],
)
def test_errors_name_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert split(tmp_path) == 1
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "toml",
    [
        '[project]\nname = "svc"\ndynamic = ["dependencies"]\n',
        '[tool.poetry.dependencies]\npython = "^3.11"\n',
    ],
)
def test_pyproject_without_dependencies_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(toml)
    assert split(tmp_path, "-r", "pyproject.toml") == 1
    assert "pyproject.toml: no dependencies to split (" in capsys.readouterr().err


def test_pyproject_bad_dependency_names_its_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["torch", "numpy=1"]\n')
    assert split(tmp_path, "-r", "pyproject.toml") == 1
    assert "pyproject.toml: project.dependencies[1]: cannot parse" in capsys.readouterr().err


# End to end


def test_cli_json_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "service")
    assert main(["--json", "-C", str(root), "split"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["source"] == "requirements.txt"
    assert payload["mode"] == "write"
    assert payload["changed"] == OUTPUTS
    base = payload["outputs"]["base"]
    assert base["files"] == ["requirements-base.txt", "constraints-base.txt"]
    assert base["packages"] == [
        "flash-attn",
        "numpy",
        "pandas",
        "peft",
        "pillow",
        "torch",
        "torchvision",
        "transformers",
    ]
    assert "./libs/featurizer" in payload["outputs"]["app"]["packages"]


def test_cli_text_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "pyproject")
    assert split(root) == 0
    assert capsys.readouterr().out.splitlines() == [
        "base: 4 packages -> requirements-base.txt",
        "app: 2 packages -> requirements-app.txt",
        "updated: requirements-base.txt, requirements-app.txt",
    ]


def local_paths(requirements: list[Path], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> set[Path]:
    """The local projects and archives pip finds in `requirements`, run in `cwd`."""
    from pip._internal.network.session import PipSession
    from pip._internal.req.constructors import install_req_from_parsed_requirement
    from pip._internal.req.req_file import parse_requirements
    from pip._internal.utils.urls import url_to_path

    monkeypatch.chdir(cwd)
    found = set()
    for path in requirements:
        for parsed in parse_requirements(str(path), session=PipSession()):
            link = install_req_from_parsed_requirement(parsed).link
            if link is not None and link.scheme == "file":
                found.add(Path(url_to_path(link.url.split("#")[0])).resolve())
    return found


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated:DeprecationWarning")
def test_relative_references_stay_valid_from_the_output_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, "service")
    (root / "pyproject.toml").write_text('[project]\nname = "svc"\nversion = "0.1"\n')
    (root / "dist").mkdir()
    (root / "dist" / "wheelhouse_pkg-1.0-py3-none-any.whl").write_bytes(b"")
    source = root / "requirements.txt"
    source.write_text(
        source.read_text() + "-e .\n./dist/wheelhouse_pkg-1.0-py3-none-any.whl\n"
        "-e file:libs/featurizer#egg=featurizer\n"
    )
    assert split(root, "--output-dir", "docker/deps") == 0
    out = root / "docker" / "deps"
    app = lines_of(out / "requirements-app.txt")
    assert {"-e ../..", "-e ../../libs/featurizer"} <= set(app)
    assert "-e file:../../libs/featurizer#egg=featurizer" in app
    # pip reads local paths against the directory it runs in: from the output directory the
    # layer files name exactly what the source names from its own.
    outputs = [out / "requirements-base.txt", out / "requirements-app.txt"]
    expected = {
        root,
        root / "libs" / "featurizer",
        root / "dist" / "wheelhouse_pkg-1.0-py3-none-any.whl",
    }
    assert local_paths([source], root, monkeypatch) == {p.resolve() for p in expected}
    assert local_paths(outputs, out, monkeypatch) == {p.resolve() for p in expected}
    # includes and constraints are read against the file itself, wherever pip runs
    assert "-c constraints-app.txt" in (out / "requirements-app.txt").read_text()


# pyproject.toml fully: extras, dependency groups, uv's indexes and sources

UV_PROJECT = """\
[project]
name = "svc"
dependencies = ["fastapi==0.115.0", "torch==2.6.0+cpu", "vision @ git+https://github.com/o/v"]

[project.optional-dependencies]
gpu = ["flash-attn==2.7.4"]
all = ["svc[gpu]", "onnxruntime==1.20.1"]

[dependency-groups]
test = ["pytest==8.3.4"]
dev = [{include-group = "test"}, "ruff==0.9.1"]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
explicit = true

[tool.uv.sources]
torch = { index = "pytorch-cpu" }
vision = { git = "https://github.com/o/v", rev = "0123456789abcdef0123456789abcdef01234567" }
featurizer = { path = "libs/featurizer" }
"""


def test_pyproject_extras_and_groups_are_taken_by_option_and_the_rest_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(UV_PROJECT)
    plain = split_requirements(tmp_path / "pyproject.toml", tmp_path)
    assert plain.base.packages == ["torch"]
    assert plain.warnings == [
        "pyproject.toml: extras not selected, so not in either layer: gpu, all; select them"
        " with split.extras (--extras) if the image needs them",
        "pyproject.toml: groups not selected, so not in either layer: test, dev; select them"
        " with split.groups (--groups) if the image needs them",
    ]
    chosen = split_requirements(
        tmp_path / "pyproject.toml", tmp_path, extras=["all"], groups=["dev"]
    )
    # `all` includes the project's own `gpu` extra; `dev` includes the `test` group
    assert chosen.base.packages == ["flash-attn", "onnxruntime", "torch"]
    assert {"pytest", "ruff", "fastapi"} <= set(chosen.app.packages)
    assert chosen.warnings == []


def test_uv_indexes_and_git_sources_reach_pip(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(UV_PROJECT)
    assert split(tmp_path, "-r", "pyproject.toml") == 0
    for layer in ("base", "app"):  # a +cpu pin needs its index, in both layers
        assert option_lines(tmp_path / f"requirements-{layer}.txt") == [
            "--extra-index-url https://download.pytorch.org/whl/cpu"
        ]
    app = lines_of(tmp_path / "requirements-app.txt")
    assert "vision @ git+https://github.com/o/v@0123456789abcdef0123456789abcdef01234567" in app


def test_a_source_pip_cannot_follow_is_said(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        UV_PROJECT.replace('"fastapi==0.115.0"', '"fastapi==0.115.0", "featurizer"')
    )
    result = split_requirements(tmp_path / "pyproject.toml", tmp_path)
    assert (
        "pyproject.toml: tool.uv.sources.featurizer (path) cannot be carried into a requirements"
        " file: kept as 'featurizer', which pip takes from the index" in result.warnings
    )


def test_an_unknown_extra_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(UV_PROJECT)
    assert split(tmp_path, "-r", "pyproject.toml", "--extras", "cuda") == 1
    assert "pyproject.toml: split.extras: no extra cuda (it has: gpu, all)" in (
        capsys.readouterr().err
    )


# Poetry's own tables (item 2 of issue 26)


def test_poetry_dependencies_are_split_as_pep_440_requirements(tmp_path: Path) -> None:
    # Real: caret constraints, and fastapi's extras in a table.
    shutil.copy(DATA / "locks" / "poetry" / "pyproject.toml", tmp_path)
    assert split(tmp_path, "-r", "pyproject.toml") == 0
    base = lines_of(tmp_path / "requirements-base.txt")
    app = lines_of(tmp_path / "requirements-app.txt")
    assert {"tensorflow>=2.18.0,<3.0.0", "numpy>=2.0.2,<3.0.0", "keras>=3.10.0,<4.0.0"} <= set(base)
    assert {"fastapi[standard]>=0.115.12,<0.116.0", "seaborn>=0.13.2,<0.14.0"} <= set(app)
    assert not any(Requirement(line).name == "python" for line in base + app)


def test_poetry_optional_dependencies_come_with_their_extras(tmp_path: Path) -> None:
    # Real: `~` constraints, and optional dependencies only in [tool.poetry.extras].
    pyproject = DATA / "poetry" / "kilroytorch" / "pyproject.toml"
    plain = split_requirements(pyproject, tmp_path)
    assert plain.base.packages == ["torch"]
    assert plain.app.packages == ["kilroyshare"]
    assert (
        "pyproject.toml: extras not selected, so not in either layer: dev, test; select them"
        " with split.extras (--extras) if the image needs them" in plain.warnings
    )
    tested = split_requirements(pyproject, tmp_path, extras=["test"])
    assert tested.app.packages == ["kilroyshare", "pytest"]
    assert "pytest>=7.0,<8.0" in tested.contents[tmp_path / "requirements-app.txt"]
    assert "kilroyshare>=0.5.1,<0.6.0" in tested.contents[tmp_path / "requirements-app.txt"]


POETRY_PROJECT = """\
[tool.poetry]
name = "svc"
package-mode = false

[tool.poetry.dependencies]
python = ">=3.11,<3.13"
torch = {version = "^2.6.0+cpu", source = "pytorch-cpu"}
numpy = [
  {version = "^1.26", python = "<3.12"},
  {version = "^2.1", python = ">=3.12"},
]
triton = {version = "3.2.0", platform = "linux", markers = "platform_machine == 'x86_64'"}
vision = {git = "https://github.com/o/v", rev = "0123456"}
featurizer = {path = "libs/featurizer"}
fastapi = ">= 0.115, < 0.116"

[tool.poetry.group.test.dependencies]
pytest = "^8.3"

[tool.poetry.group.dev]
optional = true
include-groups = ["test"]

[tool.poetry.group.dev.dependencies]
ruff = "*"

[[tool.poetry.source]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
priority = "explicit"
"""


def test_poetry_tables_markers_sources_and_groups_reach_pip(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(POETRY_PROJECT)
    result = split_requirements(tmp_path / "pyproject.toml", tmp_path, groups=["dev"])
    base = result.contents[tmp_path / "requirements-base.txt"].splitlines()
    app = result.contents[tmp_path / "requirements-app.txt"].splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in base
    assert "torch>=2.6.0,<3.0.0" in base  # the +cpu build comes from the index
    assert {
        'numpy>=1.26,<2.0 ; python_full_version < "3.12"',
        'numpy>=2.1,<3.0 ; python_full_version >= "3.12"',
        "triton==3.2.0 ; (platform_machine == 'x86_64') and sys_platform == \"linux\"",
    } <= set(base)
    assert {
        "vision @ git+https://github.com/o/v@0123456",
        "fastapi>=0.115,<0.116",
        "pytest>=8.3,<9.0",  # `dev` includes `test`
        "ruff",
    } <= set(app)
    assert (
        "pyproject.toml: tool.poetry.dependencies.featurizer (path libs/featurizer) cannot be"
        " carried into a requirements file: kept as 'featurizer', which pip takes from the index"
        in result.warnings
    )


def test_a_poetry_union_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry.dependencies]\nnumpy = "^1.26 || ^2.0"\n'
    )
    assert split(tmp_path, "-r", "pyproject.toml") == 1
    assert capsys.readouterr().err.startswith(
        "error: pyproject.toml: tool.poetry.dependencies.numpy: '^1.26 || ^2.0' is a union, which"
        " PEP 440 cannot say in one requirement; narrow it to one range, or split the poetry.lock"
        " instead\n"
    )


# A hashed file without a graph (item 3 of issue 26)


def test_a_hashed_file_without_a_graph_warns_and_names_resolve(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "pandas==2.2.3 --hash=sha256:" + "a" * 64 + "\nsix==1.17.0 --hash=sha256:" + "b" * 64 + "\n"
    )
    [warning] = split_requirements(tmp_path / "requirements.txt", tmp_path).warnings
    assert warning.startswith("requirements.txt: hashed, but with no dependency graph")
    assert "set split.resolve (--resolve)" in warning


def test_resolve_names_what_the_base_needs_and_the_file_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "requirements.txt").write_text(
        "pandas==2.2.3 --hash=sha256:" + "a" * 64 + "\nsix==1.17.0 --hash=sha256:" + "b" * 64 + "\n"
    )
    graph = {"pandas": {"python-dateutil", "numpy"}, "python-dateutil": {"six"}, "numpy": set()}
    monkeypatch.setattr("pipeline.requirements.split.resolved_graph", lambda lines, cwd: graph)
    result = split_requirements(tmp_path / "requirements.txt", tmp_path, resolve=True)
    assert result.base.packages == ["pandas", "six"]
    assert result.warnings == [
        f"requirements.txt: base packages need {name} (pandas), which it does not pin: the base"
        " will not install alone in hash-checking mode; add it to the lock"
        for name in ("numpy", "python-dateutil")
    ]
