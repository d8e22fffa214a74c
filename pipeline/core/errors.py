"""The error tree. One handler in `pipeline.cli` maps these classes to exit codes."""

from __future__ import annotations


class PipelineError(Exception):
    """An expected failure: printed as one line, no traceback."""

    exit_code = 1


class UserError(PipelineError):
    """Bad input or environment the user can fix: a file, a key, a flag, a missing engine."""


class ConfigError(UserError):
    """pipeline.yaml or an override is invalid. The message names the file and the key path."""


class UsageError(UserError):
    """The command line itself is wrong."""


class RegistryError(PipelineError):
    """A registry refused or failed; the message names the registry and the image."""


class CheckFailed(PipelineError):
    """A step ran and its verdict is 'no': lint errors, a failed smoke test, stale files."""

    exit_code = 2


INTERRUPTED_EXIT_CODE = 130
UNEXPECTED_EXIT_CODE = 3
