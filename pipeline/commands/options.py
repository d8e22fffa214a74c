"""Options defined once and shared by the subcommands (the pip-tools way)."""

from __future__ import annotations

import argparse
import typing

# Step flags such as `build --builder` are stored under "config:<section.key>" (see Context).
CONFIG_DEST_PREFIX = "config:"


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options accepted both before and after the subcommand name."""
    # SUPPRESS keeps a subparser's unset default from erasing a value given before it.
    parser.add_argument(
        "-C",
        "--project-dir",
        default=argparse.SUPPRESS,
        help="model project directory (default: the current directory)",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=argparse.SUPPRESS,
        help="configuration file (default: <project-dir>/pipeline.yaml)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=argparse.SUPPRESS,
        metavar="SECTION.KEY=VALUE",
        help="override one configuration key (repeatable; beats pipeline.yaml and env)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the result as JSON on stdout",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="say more (repeatable)",
    )


COMMON_DEFAULTS = {"project_dir": ".", "config": None, "set": None, "json": False, "verbose": 0}


def add_config_option(parser: argparse.ArgumentParser, dotted: str, *flags: str) -> None:
    """A flag that overrides configuration key `dotted`; its help comes from the schema."""
    # Imported here: the schema is slow to import, and the top-level help needs only the above.
    from pipeline.config.schema import env_name, key_type, section_fields

    section, _, key = dotted.partition(".")
    annotation = key_type(section, key)
    help_text = section_fields(section)[key].metadata["help"]
    kwargs: dict[str, typing.Any] = {
        "dest": CONFIG_DEST_PREFIX + dotted,
        "default": None,
        "help": f"{help_text} [{dotted}, env {env_name(section, key)}]",
    }
    if typing.get_origin(annotation) is typing.Literal:
        kwargs["choices"] = typing.get_args(annotation)
    elif annotation is bool:
        kwargs["action"] = _Switch
    else:
        kwargs["metavar"] = key.upper()
    parser.add_argument(*flags, **kwargs)


class _Switch(argparse.BooleanOptionalAction):
    """`--push` and `--no-push`, shown together in the help; stored as the text of a
    configuration override, as every other configuration flag is."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        negated = option_string is not None and option_string.startswith("--no-")
        setattr(namespace, self.dest, "false" if negated else "true")
