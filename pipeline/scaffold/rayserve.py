"""A Ray Serve config file (`serve run serve_config.yaml`, `serve deploy`): its applications'
import paths and route prefixes, and where the proxy listens (`http_options.host` and `port`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

# Where Serve's proxy listens when http_options does not say.
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class ServeApplication:
    name: str
    import_path: str  # module:attribute, as uvicorn takes it
    route_prefix: str | None  # None: the application takes no HTTP traffic


@dataclass(frozen=True)
class ServeConfig:
    file: str  # relative to the project
    applications: tuple[ServeApplication, ...]
    host: str | None  # http_options.host, as written
    port: int | None  # http_options.port, as written


def is_serve_config(text: str) -> bool:
    """Whether YAML text looks like a Serve config: applications with an import_path."""
    return "applications:" in text and "import_path:" in text


def read_config(project: Path, relative: str) -> ServeConfig:
    """The config file `relative`; ValueError says what in it cannot be read."""
    try:
        document = yaml.safe_load((project / relative).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{relative}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("applications"), list):
        raise ValueError(f"{relative}: no `applications` list, as Serve's config has")
    options = document.get("http_options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"{relative}: http_options is not a mapping")
    port = options.get("port")
    if port is not None and not (isinstance(port, int) and 0 < port < 65536):
        raise ValueError(f"{relative}: http_options.port {port!r} is not a port number")
    return ServeConfig(
        file=relative,
        applications=tuple(
            _application(relative, index, entry)
            for index, entry in enumerate(document["applications"])
        ),
        host=None if options.get("host") is None else str(options["host"]),
        port=port,
    )


def _application(relative: str, index: int, entry: object) -> ServeApplication:
    where = f"{relative}: applications[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("import_path"), str):
        raise ValueError(f"{where} has no import_path")
    path = entry["import_path"]
    # Serve takes `module:attribute` and `module.attribute` alike.
    module, colon, attribute = path.partition(":")
    if not colon:
        module, _, attribute = path.rpartition(".")
    if not module or not attribute:
        raise ValueError(f"{where}.import_path {path!r} is not module:attribute")
    prefix = entry.get("route_prefix", "/")
    return ServeApplication(
        name=str(entry.get("name") or "default"),
        import_path=f"{module}:{attribute}",
        route_prefix=None if prefix is None else str(prefix),
    )
