"""`pipeline smoke`: run the image and check that it serves, with a JSON and a JUnit report."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pipeline.commands.options import add_config_option

if TYPE_CHECKING:
    from pipeline.commands.context import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image",
        metavar="REF",
        help="image to test, by tag or digest (default: the candidate the build step pushed, "
        "<registry>/<image>:sha-<short commit>)",
    )
    parser.add_argument(
        "--no-pull",
        dest="pull",
        action="store_false",
        help="test the image in the local store instead of pulling it first",
    )
    add_config_option(parser, "smoke.gpu", "--gpu")
    add_config_option(parser, "smoke.network", "--network")
    add_config_option(parser, "smoke.port", "--port")
    add_config_option(parser, "smoke.samples_dir", "--samples-dir")
    add_config_option(parser, "smoke.start_period", "--start-period")
    add_config_option(parser, "smoke.requests", "--requests")
    add_config_option(parser, "smoke.grace_period", "--grace-period")
    add_config_option(parser, "smoke.report", "--report")
    add_config_option(parser, "smoke.junit", "--junit")


def run(ctx: Context) -> int:
    from pipeline.smoke.run import SmokeFailed, default_image, run_smoke

    config = ctx.config
    image = ctx.args.image or default_image(config)
    try:
        report = run_smoke(config, ctx.out, image, pull=ctx.args.pull)
    except SmokeFailed as exc:
        ctx.out.result(exc.report.as_dict(), exc.report.text())
        raise
    ctx.out.result(report.as_dict(), report.text())
    return 0
