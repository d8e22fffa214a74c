"""Project requirements: read them like pip (`parse`), from lock files (`locks`) and
pyproject.toml (`pyproject`), and split them into image layers (`split`)."""

from pipeline.requirements.families import BUILTIN_BASE, is_base_package
from pipeline.requirements.parse import Entry, Option, Requirements
from pipeline.requirements.sources import read_requirements
from pipeline.requirements.split import (
    Layer,
    SplitResult,
    split_from_config,
    split_requirements,
    stale_message,
    stale_outputs,
    write_outputs,
)

__all__ = [
    "BUILTIN_BASE",
    "Entry",
    "Layer",
    "Option",
    "Requirements",
    "SplitResult",
    "is_base_package",
    "read_requirements",
    "split_from_config",
    "split_requirements",
    "stale_message",
    "stale_outputs",
    "write_outputs",
]
