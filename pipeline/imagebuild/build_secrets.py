"""`build.secrets` as buildx `--secret` values.

buildx reads the value itself, from the named variable of its environment or the file, and
BuildKit mounts it for the `RUN --mount=type=secret,id=ID` steps only: it is in no layer, no
history entry and no cache record, and never passes through us.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config.schema import Config
from pipeline.core.errors import UserError


def secret_args(config: Config, environ: Mapping[str, str]) -> tuple[str, ...]:
    specs = []
    for secret_id, source in sorted(config.build.secrets.items()):
        kind, _, name = source.partition(":")
        if kind == "env":
            if not environ.get(name):
                raise UserError(
                    f"build.secrets.{secret_id}: {name} is not set; export it (in CI, from the "
                    "secret store)"
                )
            specs.append(f"id={secret_id},env={name}")
            continue
        path = config.path(name)
        if not path.is_file():
            raise UserError(f"build.secrets.{secret_id}: {path} is not a file")
        specs.append(f"id={secret_id},src={path.resolve()}")
    return tuple(specs)
