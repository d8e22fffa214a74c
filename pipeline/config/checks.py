"""Values checked before anything runs, where no network is needed to know they are wrong.

The schema in schema.py checks types; these check meaning (a registry URL with a scheme, an
image name Docker refuses, a size that is not one), so a bad value fails at `config` time with
what to write instead, not after a build in docker's usage text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import semver

from pipeline.config.tagtemplates import placeholders, render, tag_values
from pipeline.core.errors import ConfigError, UserError
from pipeline.core.sizes import parse_size

# The OCI distribution spec's repository path: lowercase components joined by "/".
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_SECRET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+(?::\d+)?|\[[0-9a-fA-F:]+\](?::\d+)?"
)


def check_values(values: Mapping[str, Mapping[str, Any]], sources: Mapping[str, str]) -> None:
    """Raises ConfigError naming where the first wrong value came from and the key.

    `values` by section and key, as `Config.as_dict` gives them: the schema imports this module.
    """
    checks: dict[str, Callable[[Any], str | None]] = {
        "registry.url": _registry_url,
        "image.name": _image_name,
        "registry.cache_repository": _cache_repository,
        "build.max_image_size": _max_image_size,
        "build.secrets": _build_secrets,
        "version.image_tags": _image_tags,
        "smoke.port": _port,
        "smoke.health": _health_path,
    }
    for key, check in checks.items():
        section, _, name = key.partition(".")
        problem = check(values[section][name])
        if problem:
            raise ConfigError(f"{sources.get(key, 'default')}: {key}: {problem}")


def _health_path(path: str) -> str | None:
    if path.startswith("/") and not any(c.isspace() or c in "?#" for c in path):
        return None
    return f"{path!r} is not a URL path; write one that starts with /, e.g. /health"


def _registry_url(url: str | None) -> str | None:
    if url is None:
        return None
    if "://" in url:
        bare = url.split("://", 1)[1].rstrip("/")
        return f"{url!r} has a scheme; write the host[:port][/namespace] alone: {bare!r}"
    host, _, namespace = url.partition("/")
    if not _HOST.fullmatch(host):
        return f"{url!r}: {host!r} is not a host[:port]; e.g. registry.example.com:5000/team"
    if namespace and not REPOSITORY_PATH.fullmatch(namespace):
        return f"{url!r}: the namespace {namespace!r} " + _path_advice(namespace)
    return None


def _image_name(name: str | None) -> str | None:
    # A name derived from the directory is the release preflight's to check (`image_name`):
    # `config` must work in a directory of any name.
    if name is None:
        return None
    host, slash, path = name.partition("/")
    # Docker's rule: a first component with a dot or a port, or localhost, is a registry host.
    if slash and ("." in host or ":" in host or host == "localhost"):
        if not _HOST.fullmatch(host):
            return f"{name!r}: {host!r} is not a registry host[:port]"
        return repository_path_problem(path)
    return repository_path_problem(name)


def _cache_repository(path: str | None) -> str | None:
    return None if path is None else repository_path_problem(path)


def repository_path_problem(name: str) -> str | None:
    """Why `name` is not an image repository path Docker accepts; None when it is one."""
    if REPOSITORY_PATH.fullmatch(name):
        return None
    return f"{name!r} " + _path_advice(name)


def _path_advice(path: str) -> str:
    if ":" in path or "@" in path:
        return "holds a tag or digest; tags come from version.image_tags, write the name alone"
    suggestion = re.sub(r"[^a-z0-9._/-]+", "-", path.lower()).strip("-./_")
    hint = f"; write e.g. {suggestion!r}" if REPOSITORY_PATH.fullmatch(suggestion) else ""
    return (
        "is not a valid image repository path (lowercase letters, digits and . _ - between "
        f"them, components joined by /){hint}"
    )


def _build_secrets(secrets: Mapping[str, str]) -> str | None:
    for secret_id, source in secrets.items():
        if not _SECRET_ID.fullmatch(secret_id):
            return f"{secret_id!r} is not a secret id (letters, digits and . _ -)"
        kind, _, name = source.partition(":")
        if kind not in ("env", "file") or not name:
            return (
                f"{secret_id}: {source!r} says neither env:VARIABLE nor file:PATH; the value "
                "itself never goes in the configuration"
            )
    return None


def _max_image_size(size: str | None) -> str | None:
    try:
        if size is not None:
            parse_size(size)
    except UserError:
        return f"{size!r} is not a size; write e.g. 2GB, 1.5GiB or 500MB"
    return None


def _port(port: int | None) -> str | None:
    if port is None or 1 <= port <= 65535:
        return None
    return f"{port} is not a TCP port; write the port the app listens on, 1 to 65535 (e.g. 8080)"


def _image_tags(templates: list[str]) -> str | None:
    if not templates:
        return "empty: a release would push no version tag; list at least '{version}'"
    sample = semver.Version(1, 2, 3)
    values = tag_values(sample, "0abcdef")
    try:
        for template in templates:
            placeholders(template)
            render(template, values)
    except UserError as exc:
        return f"{str(exc).removeprefix('version.image_tags: ')} (tried with version {sample})"
    return None
