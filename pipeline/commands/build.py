"""`pipeline build`: build the candidate image with buildx and the registry cache, and push it."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from pipeline.commands.options import add_config_option
from pipeline.core.errors import UsageError

if TYPE_CHECKING:
    from pipeline.commands.context import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser, "build.builder", "--builder")
    add_config_option(parser, "build.docker_cli", "--docker-cli")
    add_config_option(parser, "build.max_image_size", "--max-image-size")
    add_config_option(parser, "build.push_candidate", "--push")
    add_config_option(parser, "build.allow_dirty", "--allow-dirty")
    add_config_option(parser, "image.target", "--target")
    add_config_option(parser, "image.network", "--network")
    add_config_option(parser, "image.platform", "--platform")
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="build argument (repeatable; added to image.build_args)",
    )


def run(ctx: Context) -> int:
    from pipeline.imagebuild.run import run_build

    config = ctx.config
    if ctx.args.build_arg:
        extra = dict(_key_value(item) for item in ctx.args.build_arg)
        image = dataclasses.replace(config.image, build_args={**config.image.build_args, **extra})
        config = dataclasses.replace(config, image=image)
    report = run_build(config, ctx.out, push_images=config.build.push_candidate)
    ctx.out.result(report.as_dict(), report.text())
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--build-arg {text!r}: expected KEY=VALUE")
    return key, value
