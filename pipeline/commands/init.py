"""`pipeline init`: write a template, .dockerignore and the serving app into a project."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.context import Context
from pipeline.errors import UserError
from pipeline.templates import MODEL_SOURCES, TEMPLATES, render_dockerfile, template_files

STATE_DIR_PATTERN = ".pipeline/"
HELP = "write a Dockerfile template, .dockerignore and the reference serving app"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", required=True, choices=TEMPLATES, help="which template")
    parser.add_argument(
        "--weights",
        choices=MODEL_SOURCES,
        default="baked",
        help="bake the model weights into the image, or mount them at /models at run time",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")


def run(ctx: Context) -> int:
    project = ctx.project_dir
    if not project.is_dir():
        raise UserError(f"{project}: no such project directory")
    files = template_files(ctx.args.template)
    existing = [name for name in files if (project / name).exists()]
    if existing and not ctx.args.force:
        raise UserError(
            f"{project}: would overwrite {', '.join(existing)}; pass --force to replace them"
        )
    for name, source in files.items():
        destination = project / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if name == "Dockerfile":
            text = render_dockerfile(text, ctx.args.weights)
        destination.write_text(text, encoding="utf-8")
    # Both builders need the directory in the context, even when weights are mounted.
    (project / "model").mkdir(exist_ok=True)
    written = sorted(files)
    if _ignore_state_dir(project / ".gitignore"):
        written.append(".gitignore")
    ctx.out.result(
        {"template": ctx.args.template, "weights": ctx.args.weights, "written": written},
        f"wrote the {ctx.args.template} template into {project}: {', '.join(written)}\n"
        "next: put the weights in model/, then `python -m pipeline split` and "
        "`python -m pipeline lint`",
    )
    return 0


def _ignore_state_dir(gitignore: Path) -> bool:
    """Keep release state and smoke reports out of commits; True when .gitignore changed."""
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    if STATE_DIR_PATTERN in lines:
        return False
    gitignore.write_text("\n".join([*lines, STATE_DIR_PATTERN]) + "\n", encoding="utf-8")
    return True
