"""`pipeline split`: requirements-base.txt (cached ML layer) and requirements-app.txt.

The source is a requirements file, pyproject.toml, or a lock file (uv.lock, poetry.lock,
pdm.lock, pylock.toml, Pipfile.lock, conda's environment.yml): a lock's packages become pinned,
hashed lines that pip installs in hash-checking mode.

A lock file's `# via` graph adds to the base what is built on a framework in it and what its
packages need; the report names both. Constraint (`-c`) entries follow their package: a base
package's constraint goes to constraints-base.txt, any other to constraints-app.txt, each
included from its layer's file with `-c` because pip reads constraints only from a file of
their own. Index options go to both layers.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pipeline.commands.options import add_config_option
from pipeline.core.errors import CheckFailed

if TYPE_CHECKING:
    from pipeline.commands.context import Context
    from pipeline.requirements import Layer, SplitResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser, "split.requirements", "--requirements", "-r")
    add_config_option(parser, "split.output_dir", "--output-dir", "-o")
    add_config_option(parser, "split.base_add", "--base-add")
    add_config_option(parser, "split.base_remove", "--base-remove")
    add_config_option(parser, "split.extras", "--extras")
    add_config_option(parser, "split.groups", "--groups")
    add_config_option(parser, "split.resolve", "--resolve")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 2 when an output file is missing or out of date",
    )
    mode.add_argument(
        "--dry-run", action="store_true", help="write nothing; report the files that would change"
    )


def run(ctx: Context) -> int:
    from pipeline.requirements import split_from_config, stale_message, stale_outputs, write_outputs

    result = split_from_config(ctx.config)
    for warning in result.warnings:
        ctx.out.warn(warning)
    if ctx.args.check:
        stale = stale_outputs(result)
        if stale:
            raise CheckFailed(stale_message(result, stale))
        changed = []
    elif ctx.args.dry_run:
        changed = [path for path, _ in stale_outputs(result)]
    else:
        changed = write_outputs(result)
    names = [result.display(path) for path in changed]
    ctx.out.result(_payload(ctx, result, names), _summary(ctx, result, names))
    return 0


def _payload(ctx: Context, result: SplitResult, changed: list[str]) -> dict[str, Any]:
    return {
        "source": result.display(result.source),
        "mode": "check" if ctx.args.check else "dry-run" if ctx.args.dry_run else "write",
        "outputs": {layer.name: _layer_payload(result, layer) for layer in result.layers},
        "changed": changed,
        "warnings": result.warnings,
        "family": {name: list(frameworks) for name, frameworks in result.family.items()},
        "closure": {name: list(needed_by) for name, needed_by in result.closure.items()},
    }


def _layer_payload(result: SplitResult, layer: Layer) -> dict[str, Any]:
    return {"files": [result.display(path) for path in layer.files], "packages": layer.packages}


def _summary(ctx: Context, result: SplitResult, changed: list[str]) -> str:
    lines = [
        f"{layer.name}: {len(layer.packages)} packages -> "
        + ", ".join(result.display(path) for path in layer.files)
        for layer in result.layers
    ]
    if result.family:
        lines.append(f"base by family (built on a framework): {', '.join(result.family)}")
    if result.closure:
        lines.append(f"base by closure (base packages need them): {', '.join(result.closure)}")
    if not changed:
        lines.append("all outputs up to date")
    else:
        verb = "would change" if ctx.args.dry_run else "updated"
        lines.append(f"{verb}: {', '.join(changed)}")
    return "\n".join(lines)
