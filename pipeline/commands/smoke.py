"""`pipeline smoke`: run the image and check that it serves, with a JSON and a JUnit report."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pipeline.commands.options import add_config_option

if TYPE_CHECKING:
    from pipeline.commands.context import Context

NO_CANDIDATE = "so there is no candidate image sha-<commit>; pass --image REF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image",
        metavar="REF",
        help="image to test, by tag or digest (default: the candidate the build step pushed, "
        "<registry>/<image>:sha-<short commit>, -dirty when the build context differs from it)",
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
    from pipeline.distribution.reference import ImageRef
    from pipeline.project.worktree import build_source, read_build_context
    from pipeline.registries import resolve_target
    from pipeline.smoke.run import SmokeFailed, run_smoke
    from pipeline.versioning.image_tags import candidate

    config, args = ctx.config, ctx.args
    # Resolved once, and only where needed: the default image is in it, a pull logs in there.
    target = resolve_target(config) if args.pull or not args.image else None
    if args.image:
        image = ImageRef.parse(args.image)
    else:
        assert target is not None
        build = read_build_context(config, NO_CANDIDATE)
        image = candidate(target.staging, build_source(config, build, NO_CANDIDATE))
    try:
        report = run_smoke(config, ctx.out, image, target if args.pull else None)
    except SmokeFailed as exc:
        ctx.out.result(exc.report.as_dict(), exc.report.text())
        raise
    ctx.out.result(report.as_dict(), report.text())
    return 0
