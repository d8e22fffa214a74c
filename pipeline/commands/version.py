"""`pipeline version`: the next semantic version from VERSION, tags and conventional commits."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from pipeline.commands.options import add_config_option

if TYPE_CHECKING:
    from pipeline.commands.context import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "VERSION (version.file) is written whenever there is a version to release, also when "
        "the file is missing (a first release writes 0.1.0); nothing is written when there is "
        "nothing to release. The release commits the file and creates the git tag."
    )
    add_config_option(parser, "version.bump", "--bump")
    parser.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="print the next version (the current one when there is nothing to release); "
        "write nothing",
    )


def run(ctx: Context) -> int:
    from pipeline.versioning import decide_version, read_history, write_version

    config = ctx.config
    decision = decide_version(config, read_history(config, os.environ))
    written = None
    # A missing VERSION is written too: the first release's version is then on file, as the
    # help promises, and the release commits it with the tag.
    changed = decision.version is not None and (
        str(decision.version) != str(decision.current)
        or not config.path(config.version.file).is_file()
    )
    if changed and not ctx.args.print_only:
        written = str(write_version(config, decision.version))
    payload = {**decision.as_dict(), "written": written}
    shown = decision.version or decision.current
    if ctx.args.print_only:
        ctx.out.result(payload, str(shown))
        return 0
    headline = (
        f"{decision.current} -> {decision.version}"
        if decision.version
        else (f"{decision.current}: nothing to release")
    )
    lines = [headline, f"reason: {decision.reason}"]
    lines += [f"  {c.sha} {c.subject}" for c in decision.commits]
    if decision.tags:
        lines.append(f"image tags: {', '.join(decision.tags)}")
    if written:
        lines.append(f"wrote {written}")
    ctx.out.result(payload, "\n".join(lines))
    return 0
