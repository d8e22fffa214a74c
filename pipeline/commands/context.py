"""What every step receives: the parsed arguments, the resolved configuration and the output."""

from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.commands.options import CONFIG_DEST_PREFIX
from pipeline.config.envcheck import unknown_variables
from pipeline.config.schema import Config, load_config, parse_override
from pipeline.console.output import Output
from pipeline.core.errors import UsageError


@dataclass
class Context:
    args: argparse.Namespace
    out: Output

    @functools.cached_property
    def project_dir(self) -> Path:
        path = Path(self.args.project_dir)
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "no such directory"
            raise UsageError(f"-C {path}: {what}; -C names the model project's directory")
        return path

    @functools.cached_property
    def config(self) -> Config:
        overrides = [parse_override(text) for text in self.args.set or []]
        overrides += [
            (dest.removeprefix(CONFIG_DEST_PREFIX), value)
            for dest, value in vars(self.args).items()
            if dest.startswith(CONFIG_DEST_PREFIX) and value is not None
        ]
        config_file = Path(self.args.config) if self.args.config else None
        config = load_config(self.project_dir, config_file, os.environ, overrides)
        for warning in unknown_variables(os.environ):
            self.out.warn(warning)
        return config
