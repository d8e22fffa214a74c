"""Registry login for a docker CLI build without `docker login` writing the secret to disk.

The CLI (and buildx, for its registry cache) asks credential helpers for a password. The build
runs with a temporary DOCKER_CONFIG whose only credential setting names our helper; the helper
answers from the environment of that one CLI process. The original config's buildx builders,
plugins and contexts are linked in, so `docker buildx` keeps the builder the runner set up.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.distribution.auth import Credentials

HELPER_NAME = "pipeline"
USERNAME_VARIABLE = "PIPELINE_CLI_REGISTRY_USERNAME"
SECRET_VARIABLE = "PIPELINE_CLI_REGISTRY_SECRET"
SERVER_VARIABLE = "PIPELINE_CLI_REGISTRY_SERVER"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
KEPT_CONFIG_ENTRIES = ("buildx", "cli-plugins", "contexts")
KEPT_CONFIG_KEYS = ("currentContext", "cliPluginsExtraDirs", "plugins", "proxies")


def _server(registry: str) -> str:
    return DOCKER_HUB_SERVER if registry in ("docker.io", "registry-1.docker.io") else registry


@contextmanager
def cli_environment(credentials: Credentials | None) -> Iterator[dict[str, str]]:
    """Variables to add to a docker CLI's environment so it can log in to the target."""
    if credentials is None or not credentials.registry:
        yield {}
        return
    original = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    with tempfile.TemporaryDirectory(prefix="pipeline-docker-config-") as scratch:
        config_dir = Path(scratch)
        for entry in KEPT_CONFIG_ENTRIES:
            if (original / entry).exists():
                (config_dir / entry).symlink_to(original / entry)
        config = _kept_settings(original / "config.json")
        config["credHelpers"] = {_server(credentials.registry): HELPER_NAME}
        (config_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
        helper = config_dir / "bin" / f"docker-credential-{HELPER_NAME}"
        helper.parent.mkdir()
        helper.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" -m pipeline.imagebuild.cli_login "$@"\n',
            encoding="utf-8",
        )
        helper.chmod(0o700)
        yield {
            "DOCKER_CONFIG": str(config_dir),
            "PATH": f"{helper.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            USERNAME_VARIABLE: credentials.username,
            SECRET_VARIABLE: credentials.password,
            SERVER_VARIABLE: _server(credentials.registry),
        }


def _kept_settings(path: Path) -> dict[str, object]:
    """The original config minus every credential setting."""
    try:
        original = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: original[key] for key in KEPT_CONFIG_KEYS if key in original}


def answer(action: str, server: str) -> tuple[int, str]:
    """The credential-helper protocol: `get` with the server URL on stdin; the rest is a no-op."""
    if action == "get":
        if server.strip() != os.environ.get(SERVER_VARIABLE):
            return 1, "credentials not found in native keychain"
        reply = {
            "ServerURL": server.strip(),
            "Username": os.environ[USERNAME_VARIABLE],
            "Secret": os.environ[SECRET_VARIABLE],
        }
        return 0, json.dumps(reply)
    if action == "list":
        return 0, "{}"
    return 0, ""  # store and erase: the CLI must never persist anything


if __name__ == "__main__":
    status, text = answer(sys.argv[1] if len(sys.argv) > 1 else "", sys.stdin.read())
    print(text, file=sys.stdout if status == 0 else sys.stderr)
    sys.exit(status)
