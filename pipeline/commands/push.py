"""`pipeline push`: promote the smoke-tested candidate to the version's tags, no rebuild."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pipeline.commands.options import add_config_option
from pipeline.core.errors import UsageError

if TYPE_CHECKING:
    from pipeline.commands.context import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "version",
        nargs="?",
        help="the version to release (default: the one in the VERSION file)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--image",
        metavar="REF",
        help="the candidate image (default: <registry>/<image>:sha-<commit>; never a dirty tree's)",
    )
    which.add_argument(
        "--digest",
        metavar="SHA256",
        help="the candidate by digest in the target repository, e.g. sha256:4f1c...",
    )
    add_config_option(parser, "registry.kind", "--registry")


def run(ctx: Context) -> int:
    from pipeline.promotion.promote import plan_push, promote

    args = ctx.args
    if args.digest and not args.digest.startswith("sha256:"):
        raise UsageError(f"--digest {args.digest!r}: expected sha256:<64 hex digits>")
    promotion = plan_push(ctx.config, args.version, args.image, args.digest)
    report = promote(ctx.config, ctx.out, promotion)
    ctx.out.result(report.as_dict(), report.text())
    return 0
