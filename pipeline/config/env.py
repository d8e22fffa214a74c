"""Settings from the environment: `PIPELINE_<SECTION>_<KEY>` variables and `PIPELINE_SETTINGS`.

Empty means unset, so that a CI front end can map every input to its variable and an input left
empty leaves the decision to `pipeline.yaml`, with no shell to filter the inputs first.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping

from pipeline.core.errors import ConfigError

ENV_PREFIX = "PIPELINE_"
# `PIPELINE_<SECTION>_<KEY>=value` lines in one variable: how a CI front end passes on a
# free-form list of settings (GitHub's `pipeline-env` input), which no input maps one to one.
SETTINGS_VARIABLE = "PIPELINE_SETTINGS"


def environment_settings(
    environ: Mapping[str, str], variables: Collection[str]
) -> dict[str, tuple[str, str]]:
    """Variable name -> (text, where it came from) of each of `variables` the environment sets.

    A variable of its own beats a line of `PIPELINE_SETTINGS` naming the same setting.
    """
    lines = _settings_lines(environ.get(SETTINGS_VARIABLE, ""), variables)
    given = {name: (text, f"env {SETTINGS_VARIABLE}") for name, text in lines.items() if text}
    given.update({name: (environ[name], f"env {name}") for name in variables if environ.get(name)})
    return given


def closest_variable(name: str, variables: Collection[str]) -> str | None:
    """The one of `variables` that `name` most likely misspells, if any."""
    # Compared without the prefix every name shares, which would make anything look close.
    close = difflib.get_close_matches(
        name.removeprefix(ENV_PREFIX), [v.removeprefix(ENV_PREFIX) for v in variables], n=1
    )
    return ENV_PREFIX + close[0] if close else None


def _settings_lines(text: str, variables: Collection[str]) -> dict[str, str]:
    """The `NAME=value` lines of `PIPELINE_SETTINGS`; blank lines and `#` comments are skipped.

    An unknown name is an error, not the warning a variable of its own gets: these lines are
    written for the pipeline alone, so a name it does not know is a mistake.
    """
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or name not in variables:
            close = closest_variable(name, variables) if sep else None
            hint = f"did you mean {close}?" if close else "settings are in docs/configuration.md"
            if close == name.strip():
                hint = f"write {close}=value, with no space before '='"
            raise ConfigError(
                f"env {SETTINGS_VARIABLE} line {number}: {name!r} is not "
                f"PIPELINE_<SECTION>_<KEY>=value; {hint}"
            )
        found[name] = value
    return found
