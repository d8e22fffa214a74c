"""One engine: the SDK talks to the endpoint the docker CLI (and so buildx) uses, DOCKER_HOST or
the current docker context, with contexts made by the real CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.engine.client import DEFAULT_HOST, docker_client, engine_endpoint


def cli(config: Path, *args: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    done = subprocess.run(
        ["docker", *args],
        env={**environ, "DOCKER_CONFIG": str(config)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_current_context_decides_unless_docker_host_does(tmp_path: Path) -> None:
    config = tmp_path / "docker"
    second = f"unix://{tmp_path}/second.sock"
    cli(config, "context", "create", "second", "--docker", f"host={second}")
    assert engine_endpoint({"DOCKER_CONFIG": str(config)}) == DEFAULT_HOST
    cli(config, "context", "use", "second")
    environ = {"DOCKER_CONFIG": str(config)}
    # What the CLI itself resolves, and so buildx: the same endpoint.
    assert cli(config, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}") == second
    assert engine_endpoint(environ) == second
    assert engine_endpoint({**environ, "DOCKER_CONTEXT": "default"}) == DEFAULT_HOST
    assert engine_endpoint({**environ, "DOCKER_HOST": "tcp://127.0.0.1:2375"}) == (
        "tcp://127.0.0.1:2375"
    )


def test_the_sdk_follows_the_context(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "docker"
    cli(config, "context", "create", "second", "--docker", f"host=unix://{tmp_path}/none.sock")
    cli(config, "context", "use", "second")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    docker_client.cache_clear()
    try:
        with pytest.raises(UserError, match=f"cannot reach the Docker engine at unix://{tmp_path}"):
            docker_client()
    finally:
        docker_client.cache_clear()


@pytest.mark.stack
def test_a_second_context_on_the_stack_s_engine_is_the_engine(
    stack, tmp_path: Path, monkeypatch
) -> None:
    config = tmp_path / "docker"
    engine = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    cli(config, "context", "create", "stack", "--docker", f"host={engine}")
    cli(config, "context", "use", "stack")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    docker_client.cache_clear()
    try:
        assert docker_client().api.base_url  # it answered ping on the context's endpoint
        assert cli(config, "info", "--format", "{{.ID}}") == docker_client().info()["ID"]
    finally:
        docker_client.cache_clear()
