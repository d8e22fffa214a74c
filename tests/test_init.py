"""`pipeline init` writes the templates; the bundled example is what `init --template cpu` makes."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.scaffold.templates import GPU_TEMPLATES, TEMPLATES, template_files

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "churn"


@pytest.mark.parametrize("template", TEMPLATES)
def test_init_writes_the_template(tmp_path: Path, capsys, template: str) -> None:
    assert main(["init", "-C", str(tmp_path), "--template", template]) == 0
    for name, source in template_files(template).items():
        assert (tmp_path / name).read_bytes() == source.read_bytes(), name
    assert (tmp_path / "docker-compose.yml").exists() == (template in GPU_TEMPLATES)
    assert (tmp_path / "model").is_dir()
    assert "ARG MODEL_SOURCE=baked" in (tmp_path / "Dockerfile").read_text()
    assert ".pipeline/" in (tmp_path / ".gitignore").read_text().splitlines()


def test_init_keeps_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("data/\n")
    assert main(["init", "-C", str(tmp_path), "--template", "cpu"]) == 0
    assert main(["init", "-C", str(tmp_path), "--template", "cpu", "--force"]) == 0
    assert (tmp_path / ".gitignore").read_text() == "data/\n.pipeline/\n"


def test_mounted_weights_switch_the_default(tmp_path: Path) -> None:
    assert main(["init", "-C", str(tmp_path), "--template", "cpu", "--weights", "mounted"]) == 0
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "ARG MODEL_SOURCE=mounted" in dockerfile
    assert "ARG MODEL_SOURCE=baked" not in dockerfile


def test_init_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert main(["init", "-C", str(tmp_path), "--template", "cpu"]) == 1
    assert "would overwrite Dockerfile; pass --force" in capsys.readouterr().err
    assert (tmp_path / "Dockerfile").read_text() == "FROM scratch\n"
    assert main(["init", "-C", str(tmp_path), "--template", "cpu", "--force"]) == 0
    assert (tmp_path / "Dockerfile").read_text() != "FROM scratch\n"


def test_the_example_is_the_cpu_template() -> None:
    for name, source in template_files("cpu").items():
        assert filecmp.cmp(EXAMPLE / name, source, shallow=False), f"examples/churn/{name} drifted"
    example_serve = {p.name for p in (EXAMPLE / "serve").glob("*.py")}
    assert example_serve == {Path(n).name for n in template_files("cpu") if n.startswith("serve")}
