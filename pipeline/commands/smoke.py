"""Placeholder: being written now."""

import argparse

from pipeline.context import Context

HELP = "smoke (in progress)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(ctx: Context) -> int:
    raise NotImplementedError
