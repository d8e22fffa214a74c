"""The Dockerfile templates in `dockerfiles/` and what `init` copies from them."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.errors import UserError

TEMPLATES = ("cpu", "pytorch-gpu", "pytorch-pypi", "tensorflow-gpu", "cuda", "llm")
GPU_TEMPLATES = frozenset(TEMPLATES) - {"cpu"}
MODEL_SOURCES = ("baked", "mounted")
MODEL_SOURCE_DEFAULT_LINE = "ARG MODEL_SOURCE=baked"


def templates_root() -> Path:
    """`pipeline/_dockerfiles` in an installed wheel; the checkout's `dockerfiles/` otherwise."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_dockerfiles", package.parent / "dockerfiles"):
        if (candidate / "common").is_dir():
            return candidate
    raise UserError(f"the Dockerfile templates are missing next to {package}; reinstall pipeline")


def template_files(template: str) -> dict[str, Path]:
    """Destination path in the project -> source file, for one template."""
    root = templates_root()
    files = {
        "Dockerfile": root / template / "Dockerfile",
        ".dockerignore": root / "common" / ".dockerignore",
    }
    if template in GPU_TEMPLATES:
        files["docker-compose.yml"] = root / "common" / "docker-compose.gpu.yml"
    serve = root / "common" / "serve"
    for path in sorted(serve.rglob("*.py")):
        files[str(Path("serve") / path.relative_to(serve))] = path
    return files


def render_dockerfile(text: str, model_source: str) -> str:
    """The template with the chosen weights source as its default `MODEL_SOURCE`."""
    if model_source == "baked":
        return text
    if MODEL_SOURCE_DEFAULT_LINE not in text:
        raise UserError(f"template has no {MODEL_SOURCE_DEFAULT_LINE!r} line to switch")
    return text.replace(MODEL_SOURCE_DEFAULT_LINE, f"ARG MODEL_SOURCE={model_source}", 1)
