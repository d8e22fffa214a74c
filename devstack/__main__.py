"""`python -m devstack up|down|status`: the command line of the local stack."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict

from pipeline.core.errors import PipelineError

from .stack import Component, down, ensure_up, stack_info, status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Local container stack: Docker engine, registries, ECR/GAR/Hub stand-ins.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start everything (idempotent)")
    up.add_argument("--json", action="store_true", help="print the stack's addresses as JSON")
    up.add_argument("--show-secrets", action="store_true", help="include the hub password")
    stop = commands.add_parser("down", help="stop what `up` started; data is kept")
    stop.add_argument(
        "--purge",
        action="store_true",
        help="also delete the state dir (registry data, certs, secrets) and /etc/hosts lines",
    )
    report = commands.add_parser("status", help="what runs where, and whether it answers")
    report.add_argument("--json", action="store_true", help="print as JSON")
    report.add_argument("--env", action="store_true", help="print shell `export` lines")
    report.add_argument("--show-secrets", action="store_true", help="include the hub password")
    return parser


def _print_table(components: list[Component]) -> None:
    rows = [
        (
            c.label,
            "up" if c.up else "DOWN",
            str(c.pid) if c.pid else "-",
            c.address,
            c.detail,
        )
        for c in components
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        print("  ".join([*cells, row[4]]).rstrip())


def _status(args: argparse.Namespace) -> int:
    info = stack_info()
    if args.env:
        for key, value in info.env(show_secrets=args.show_secrets).items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    components = status()
    if args.json:
        payload = {
            "up": all(c.up for c in components),
            "components": [asdict(c) for c in components],
            "stack": info.to_dict(show_secrets=args.show_secrets),
        }
        print(json.dumps(payload, indent=2))
    else:
        _print_table(components)
        if args.show_secrets:
            print(f"hub login: {info.hub_username} / {info.hub_password}")
    down_ones = [c.label for c in components if not c.up]
    if down_ones:
        print(
            f"error: not up: {', '.join(down_ones)}; run `python -m devstack up`",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            started = time.monotonic()
            info = ensure_up()
            elapsed = time.monotonic() - started
            if args.json:
                print(json.dumps(info.to_dict(show_secrets=args.show_secrets), indent=2))
            print(
                f"stack up in {elapsed:.1f}s; `python -m devstack status --env` "
                "prints its environment",
                file=sys.stderr,
            )
            return 0
        if args.command == "down":
            down(purge=args.purge)
            return 0
        return _status(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `status | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # permissions, a full disk: the message says which file
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
