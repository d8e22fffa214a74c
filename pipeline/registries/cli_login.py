"""Registry logins for a docker CLI build without `docker login` writing a secret to disk.

The CLI (and buildx: base images, the registry cache, the push) asks credential helpers for a
password. The build runs with a temporary DOCKER_CONFIG whose only credential setting names our
helper for every registry the build touches; the helper answers from the environment of that
one CLI process, with the logins the run's keychain found (the user's own docker logins among
them). The original config's buildx builders, plugins and contexts are linked in, so
`docker buildx` keeps the builder the runner set up.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline.distribution.auth import Credentials, docker_config_dir
from pipeline.registries.dockerconfig import server_address, server_host

HELPER_NAME = "pipeline"
# JSON: server -> [username, secret]
LOGINS_VARIABLE = "PIPELINE_CLI_REGISTRY_LOGINS"
KEPT_CONFIG_ENTRIES = ("buildx", "cli-plugins", "contexts")
KEPT_CONFIG_KEYS = ("currentContext", "cliPluginsExtraDirs", "plugins", "proxies")


@contextmanager
def cli_environment(logins: Sequence[Credentials]) -> Iterator[dict[str, str]]:
    """Variables to add to a docker CLI's environment so it can log in to those registries."""
    servers = {server_address(c.registry): c for c in logins if c.registry}
    if not servers:
        yield {}
        return
    original = docker_config_dir(os.environ)
    with tempfile.TemporaryDirectory(prefix="pipeline-docker-config-") as scratch:
        config_dir = Path(scratch)
        for entry in KEPT_CONFIG_ENTRIES:
            if (original / entry).exists():
                (config_dir / entry).symlink_to(original / entry)
        config = _kept_settings(original / "config.json")
        config["credHelpers"] = dict.fromkeys(servers, HELPER_NAME)
        (config_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
        helper = config_dir / "bin" / f"docker-credential-{HELPER_NAME}"
        helper.parent.mkdir()
        helper.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" -m pipeline.registries.cli_login "$@"\n',
            encoding="utf-8",
        )
        helper.chmod(0o700)
        yield {
            "DOCKER_CONFIG": str(config_dir),
            "PATH": f"{helper.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            LOGINS_VARIABLE: json.dumps({s: [c.username, c.password] for s, c in servers.items()}),
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
        logins = json.loads(os.environ.get(LOGINS_VARIABLE) or "{}")
        found = logins.get(server_address(server_host(server.strip())))
        if not found:
            return 1, "credentials not found in native keychain"
        username, secret = found
        return 0, json.dumps({"ServerURL": server.strip(), "Username": username, "Secret": secret})
    if action == "list":
        return 0, "{}"
    return 0, ""  # store and erase: the CLI must never persist anything


if __name__ == "__main__":
    status, text = answer(sys.argv[1] if len(sys.argv) > 1 else "", sys.stdin.read())
    print(text, file=sys.stdout if status == 0 else sys.stderr)
    sys.exit(status)
