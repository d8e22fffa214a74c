"""`pipeline release`: split --check, lint, build, smoke, version, push, tag; resumable."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.commands.options import add_config_option
from pipeline.release.run import STEP_NAMES as STEPS

if TYPE_CHECKING:
    from pipeline.commands.context import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    span = parser.add_mutually_exclusive_group()
    span.add_argument("--only", choices=STEPS, help="run this one step")
    span.add_argument("--from", dest="from_step", choices=STEPS, help="start at this step")
    parser.add_argument("--to", dest="to_step", choices=STEPS, help="stop after this step")
    parser.add_argument(
        "--candidate",
        metavar="REF",
        help="the candidate image (by digest) when an earlier job built it, e.g. in CI",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run the preflight checks, print them and the plan (steps, image, tags) and stop",
    )
    parser.add_argument(
        "--restart", action="store_true", help="ignore the state of an unfinished release"
    )
    parser.add_argument(
        "--dotenv",
        metavar="FILE",
        help="write IMAGE_DIGEST, IMAGE_REF, IMAGE_TAGS, VERSION (GitLab's dotenv report)",
    )
    add_config_option(parser, "registry.kind", "--registry")
    add_config_option(parser, "version.bump", "--bump")
    add_config_option(parser, "smoke.enabled", "--smoke")
    add_config_option(parser, "smoke.gpu", "--gpu")
    add_config_option(parser, "build.builder", "--builder")


def run(ctx: Context) -> int:
    from pipeline.release.outputs import json_summary, text_summary, write_dotenv, write_github
    from pipeline.release.preflight import raise_if_failed
    from pipeline.release.run import ReleaseOptions, plan_release, run_release

    args = ctx.args
    options = ReleaseOptions(
        only=args.only,
        from_step=args.from_step,
        to_step=args.to_step,
        candidate=args.candidate,
        restart=args.restart,
        dotenv=Path(args.dotenv) if args.dotenv else None,
    )
    if args.dry_run:
        plan, checks = plan_release(ctx.config, ctx.out, options)
        lines = [f"{key:<10}  {value}" for key, value in plan.items()]
        lines += [f"preflight   {check.line()}" for check in checks]
        payload = {**plan, "preflight": [check.as_dict() for check in checks]}
        ctx.out.result(payload, "release plan (dry run, nothing done):\n" + "\n".join(lines))
        raise_if_failed(checks)
        return 0
    state = run_release(ctx.config, ctx.out, options)
    write_github(state)
    if options.dotenv:
        write_dotenv(state, options.dotenv)
    ctx.out.result(json_summary(state), text_summary(state))
    return 0
