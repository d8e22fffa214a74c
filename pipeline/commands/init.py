"""`pipeline init`: ready a model project for `release`.

With `--template`, write the template's Dockerfile, .dockerignore and the reference serving app.
Without, keep the project's own Dockerfile and app. Either way, write what is missing:
pipeline.yaml (with what was detected), VERSION, .dockerignore, a smoke/ scaffold.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.commands.options import CONFIG_DEST_PREFIX
from pipeline.core.errors import UserError
from pipeline.scaffold.templates import MODEL_SOURCES, TEMPLATES, render_dockerfile, template_files

if TYPE_CHECKING:
    from pipeline.commands.context import Context
    from pipeline.scaffold.detect import Detected
    from pipeline.scaffold.files import Writer

STATE_DIR_PATTERN = ".pipeline/"
IMAGE_DEST = CONFIG_DEST_PREFIX + "image.name"
REGISTRY_DEST = CONFIG_DEST_PREFIX + "registry.url"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template",
        choices=TEMPLATES,
        help="write this Dockerfile template and the reference serving app; without it, the "
        "project's own Dockerfile and app are kept",
    )
    parser.add_argument(
        "--weights",
        choices=MODEL_SOURCES,
        default="baked",
        help="bake the model weights into the image, or mount them at /models at run time",
    )
    # Stored as configuration flags: checked with -c, --set and PIPELINE_* like any command's.
    parser.add_argument(
        "--image", dest=IMAGE_DEST, metavar="NAME", help="image.name in pipeline.yaml"
    )
    parser.add_argument(
        "--registry", dest=REGISTRY_DEST, metavar="HOST", help="registry.url in pipeline.yaml"
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")


def run(ctx: Context) -> int:
    from pipeline.config.schema import CONFIG_FILE
    from pipeline.scaffold.detect import detect, find_dockerfile
    from pipeline.scaffold.files import (
        Writer,
        config_values,
        write_config,
        write_dockerignore,
        write_samples,
        write_version,
    )

    args = ctx.args
    project = ctx.project_dir
    # Checked before anything is written: a bad image name or registry is the flag's error.
    config = ctx.config
    if not args.template and find_dockerfile(project, config.project.dockerfile) is None:
        raise UserError(
            f"{project}: no Dockerfile (nor one file named dockerfile, Dockerfile.*, *.Dockerfile,"
            f" nor project.dockerfile); run init where the project's Dockerfile is, set"
            f" project.dockerfile (--set project.dockerfile=PATH), or pass --template"
            f" {'|'.join(TEMPLATES)} to write one"
        )
    image, registry = getattr(args, IMAGE_DEST), getattr(args, REGISTRY_DEST)
    writer = Writer(project, args.force)
    if args.template:
        _write_template(writer, args.template, args.weights)
    detected = detect(project, config.project.dockerfile)
    # -c names the configuration init writes, as it names the one every other command reads.
    config_file = str(Path(args.config).resolve()) if args.config else CONFIG_FILE
    flags = [f for f, value in (("--image", image), ("--registry", registry)) if value]
    wrote_config = write_config(
        writer, config_file, config_values(detected, image, registry), detected
    )
    version = write_version(writer, config.version.file, config.version.tag_prefix)
    write_dockerignore(writer)
    no_samples, skipped = write_samples(writer, config.smoke.samples_dir, detected)
    if _ignore_state_dir(project / ".gitignore"):
        writer.written.append(".gitignore")
    lines = [
        f"detected: {_described(detected)}",
        f"wrote: {', '.join(writer.written) or 'nothing'}"
        + (f" (VERSION {version})" if "VERSION" in writer.written else ""),
    ]
    if writer.kept:
        lines.append(f"kept: {', '.join(writer.kept)} (pass --force to replace them)")
    if flags and not wrote_config:
        lines.append(
            f"not applied: {' and '.join(flags)}, since {config_file} was kept; pass --force to "
            "rewrite it, or set image.name / registry.url in it"
        )
    if no_samples:
        lines.append(f"smoke: no samples written: {no_samples}")
    lines += [f"smoke: left out {operation}" for operation in skipped]
    lines += [f"to do: {note}" for note in [*detected.notes, *_lint_stops(ctx, detected)]]
    lines.append(_next_steps(config.smoke.samples_dir, bool(no_samples)))
    payload = {
        "template": args.template,
        "detected": vars(detected),
        "written": writer.written,
        "kept": writer.kept,
        "version": version,
        "samples": no_samples or "written",
        "not_applied": [] if wrote_config else flags,
    }
    ctx.out.result(payload, "\n".join(lines))
    return 0


def _lint_stops(ctx: Context, detected: Detected) -> list[str]:
    """What in the Dockerfile lint fails on, which would stop the release at its lint step."""
    if not detected.dockerfile:
        return []
    from pipeline.lint import Severity
    from pipeline.lint.linter import lint_targets
    from pipeline.project.buildcontext import read_context
    from pipeline.project.worktree import first_few

    config = ctx.config
    dockerfile = ctx.project_dir / detected.dockerfile
    target = read_context(dockerfile, config.path(config.project.context))
    reports = lint_targets(config, ctx.out, [target], [])
    fail_on = Severity.parse(config.lint.fail_on)
    failing = [finding for report in reports for finding in report.failing(fail_on)]
    if not failing:
        return []
    shown = first_few([f"{f.location} {f.id} {f.message}" for f in failing])
    return [
        f"lint fails on {len(failing)} finding(s) at or above {fail_on} (lint.fail_on), which stop"
        f" the release: {shown}; `python -m pipeline lint` gives the fix of each"
    ]


def _write_template(writer: Writer, template: str, weights: str) -> None:
    files = template_files(template)
    existing = [name for name in files if (writer.project / name).exists()]
    if existing and not writer.force:
        raise UserError(
            f"{writer.project}: would overwrite {', '.join(existing)}; pass --force to replace them"
        )
    for name, source in files.items():
        text = source.read_text(encoding="utf-8")
        writer.write(name, render_dockerfile(text, weights) if name == "Dockerfile" else text)
    # Both builders need the directory in the context, even when weights are mounted.
    (writer.project / "model").mkdir(exist_ok=True)


def _described(detected: Detected) -> str:
    from pipeline.requirements.split import SPLIT_FILES

    requirements = ", ".join(detected.requirements) or "no requirements file"
    if detected.requirements and not set(detected.requirements) & set(SPLIT_FILES):
        requirements += " (`python -m pipeline lint` says whether splitting would help)"
    models = ", ".join(detected.model_files[:5]) or "no model files in the project"
    return "; ".join(
        [
            detected.dockerfile or "no Dockerfile",
            f"{detected.framework or 'app'} {detected.app or detected.app_file}"
            + (f" ({detected.app_file})" if detected.app else "")
            if detected.app_file
            else "no serving app",
            f"port {detected.port} from {detected.port_source}"
            if detected.port
            else "no port (smoke finds it in the image)",
            requirements,
            models,
        ]
    )


def _next_steps(samples_dir: str, no_samples: bool) -> str:
    samples = (
        f"write {samples_dir}/ samples"
        if no_samples
        else f"put real inputs and expect.shape/golden in {samples_dir}/*.request.json"
    )
    return (
        f"next: {samples} (docs/smoke-samples.md), `python -m pipeline lint`, commit, then "
        "`python -m pipeline release`"
    )


def _ignore_state_dir(gitignore: Path) -> bool:
    """Keep release state and smoke reports out of commits; True when .gitignore changed."""
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    if STATE_DIR_PATTERN in lines:
        return False
    gitignore.write_text("\n".join([*lines, STATE_DIR_PATTERN]) + "\n", encoding="utf-8")
    return True
