"""The local stack's networking is the default inside its environment, and a build that fails
for want of a bridge says which setting fixes it (issue 14, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.stack import StackInfo
from pipeline.config.envcheck import unknown_variables
from pipeline.config.schema import load_config
from pipeline.imagebuild.buildx import BuildRequest, _failure
from pipeline.imagebuild.steps import RawJsonProgress

# What buildx 0.13 on Docker 26.1 with daemon.json "bridge": "none" prints for any RUN.
NO_BRIDGE = (
    'ERROR: failed to solve: process "/bin/sh -c pip install -r requirements.txt" did not '
    "complete successfully: network bridge not found"
)


def stack_info(tmp_path: Path) -> StackInfo:
    return StackInfo(
        state_dir=tmp_path,
        registry="127.0.0.1:5000",
        ecr_host="ecr.invalid",
        ecr_account="123456789012",
        aws_region="us-east-1",
        gar_host="gar.invalid",
        hub_host="hub.invalid",
        hub_username="user",
        hub_password="secret",
        moto_endpoint="http://127.0.0.1:5001",
        gar_endpoint="http://127.0.0.1:5002",
        ca_bundle=tmp_path / "ca.pem",
        base_image="python:3.11-slim",
        engine_managed=True,
    )


def test_the_stack_environment_gives_a_plain_project_host_networking(tmp_path: Path) -> None:
    # Stumble 4: a project without image.network failed to build on the stack.
    environ = stack_info(tmp_path).env()
    config = load_config(tmp_path, environ=environ)
    assert (config.image.network, config.smoke.network) == ("host", "host")
    assert config.sources["image.network"] == "env PIPELINE_IMAGE_NETWORK"
    assert not unknown_variables(environ)


def test_an_ordinary_host_keeps_the_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert (config.image.network, config.smoke.network) == (None, "auto")


def test_a_build_without_a_bridge_names_the_setting(tmp_path: Path) -> None:
    progress = RawJsonProgress("stage-0")
    progress.feed_line(NO_BRIDGE + "\n")
    request = BuildRequest(
        context=tmp_path, dockerfile=tmp_path / "Dockerfile", target=None, tag="x"
    )
    message = str(_failure(request, progress, "buildx exited 1"))
    assert "network bridge not found; the engine has no bridge network" in message
    assert "set image.network: host" in message and "PIPELINE_IMAGE_NETWORK=host" in message


def test_other_build_failures_get_no_network_hint(tmp_path: Path) -> None:
    progress = RawJsonProgress("stage-0")
    progress.feed_line(json.dumps({"not": "a status"}) + "\n")
    progress.feed_line("ERROR: failed to solve: process did not complete successfully: exit 3\n")
    request = BuildRequest(
        context=tmp_path, dockerfile=tmp_path / "Dockerfile", target=None, tag="x"
    )
    assert "image.network" not in str(_failure(request, progress, "buildx exited 1"))
