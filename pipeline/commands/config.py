"""`pipeline config`: print the resolved configuration and where each value came from."""

from __future__ import annotations

import argparse

import yaml

from pipeline.context import Context

HELP = "print the resolved configuration (defaults < pipeline.yaml < env < flags)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources", action="store_true", help="annotate each key with where its value came from"
    )


def run(ctx: Context) -> int:
    config = ctx.config
    resolved = config.as_dict()
    resolved["project"]["name"] = config.project_name
    resolved["image"]["name"] = config.image_name
    payload = {"project_dir": str(config.project_dir.resolve()), "config": resolved}
    if ctx.args.sources:
        payload["sources"] = config.sources
    text = yaml.safe_dump(resolved, sort_keys=False, default_flow_style=False)
    if ctx.args.sources:
        lines = [f"{key}: {origin}" for key, origin in sorted(config.sources.items())]
        text += "# set outside the defaults:\n" + "\n".join(f"#   {line}" for line in lines)
    ctx.out.result(payload, text)
    return 0
