"""`pipeline prune`: delete old candidate and build-cache tags, never a released image."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pipeline.core.errors import UsageError

if TYPE_CHECKING:
    from pipeline.commands.context import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        type=int,
        default=20,
        metavar="N",
        help="keep the tags of HEAD's newest N commits (default 20)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be deleted, delete nothing"
    )


def run(ctx: Context) -> int:
    from pipeline.promotion.prune import prune, recent_commits
    from pipeline.registries import resolve_target

    args = ctx.args
    if args.keep < 1:
        raise UsageError(f"--keep {args.keep}: keep at least the newest commit's tags")
    config = ctx.config
    recent = recent_commits(str(config.project_dir), args.keep)
    report = prune(resolve_target(config), recent, args.dry_run, ctx.out.note)
    ctx.out.result(report.as_dict(), report.text())
    return 0
