"""Settings from the environment: an empty variable is unset, and `PIPELINE_SETTINGS` lines.

What lets the CI front ends map every input to its variable with no shell to filter them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config.schema import load_config
from pipeline.core.errors import ConfigError
from tests.support.project import run_pipeline

FILE = "registry:\n  kind: ecr\n  aws_region: eu-west-1\nimage:\n  name: team/churn\n"


def write(project: Path, text: str = FILE) -> Path:
    path = project / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_empty_variable_leaves_the_file_its_say(tmp_path: Path) -> None:
    path = write(tmp_path)
    # Empty as an unset CI input gives them: a kind "" would fail validation, a name "" would
    # clear the file's name, "" is no number of requests and no true or false.
    environ = {
        "PIPELINE_REGISTRY_KIND": "",
        "PIPELINE_IMAGE_NAME": "",
        "PIPELINE_SMOKE_REQUESTS": "",
        "PIPELINE_SMOKE_ENABLED": "",
    }
    config = load_config(tmp_path, environ=environ)
    assert (config.registry.kind, config.image.name) == ("ecr", "team/churn")
    assert (config.smoke.requests, config.smoke.enabled) == (20, True)
    assert config.sources == {
        "registry.kind": str(path),
        "registry.aws_region": str(path),
        "image.name": str(path),
    }


def test_a_set_variable_still_beats_the_file(tmp_path: Path) -> None:
    write(tmp_path)
    config = load_config(tmp_path, environ={"PIPELINE_IMAGE_NAME": "team/ranker"})
    assert config.image.name == "team/ranker"
    assert config.sources["image.name"] == "env PIPELINE_IMAGE_NAME"


def test_settings_lines_apply_like_variables(tmp_path: Path) -> None:
    write(tmp_path)
    lines = (
        "# Artifact Registry\r\n"
        "PIPELINE_REGISTRY_GCP_PROJECT=my-project\r\n"
        "\n"
        "  PIPELINE_SMOKE_PORT=9000  \n"
        "PIPELINE_IMAGE_NAME=team/from-lines\n"
        "PIPELINE_SMOKE_GPU=\n"
    )
    environ = {
        "PIPELINE_SETTINGS": lines,
        # A variable of its own beats the line; an empty one does not.
        "PIPELINE_IMAGE_NAME": "team/own",
        "PIPELINE_SMOKE_PORT": "",
    }
    config = load_config(tmp_path, environ=environ)
    assert config.registry.gcp_project == "my-project"
    assert config.smoke.port == 9000
    assert config.image.name == "team/own"
    assert config.smoke.gpu == "auto"  # the empty line sets nothing: the default stays
    assert config.sources["registry.gcp_project"] == "env PIPELINE_SETTINGS"
    assert config.sources["smoke.port"] == "env PIPELINE_SETTINGS"
    assert "smoke.gpu" not in config.sources


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            "PIPELINE_SMOKE_PORT=9000\nPIPELINE_SMOKE_GPUS=off\n",
            "env PIPELINE_SETTINGS line 2: 'PIPELINE_SMOKE_GPUS' is not "
            "PIPELINE_<SECTION>_<KEY>=value; did you mean PIPELINE_SMOKE_GPU?",
        ),
        (
            "DOCKERHUB_TOKEN=oops\n",
            "env PIPELINE_SETTINGS line 1: 'DOCKERHUB_TOKEN' is not "
            "PIPELINE_<SECTION>_<KEY>=value; settings are in docs/configuration.md",
        ),
        (
            "# one per line\nPIPELINE_SMOKE_GPU off\n",
            "env PIPELINE_SETTINGS line 2: 'PIPELINE_SMOKE_GPU off' is not "
            "PIPELINE_<SECTION>_<KEY>=value; settings are in docs/configuration.md",
        ),
        (
            "PIPELINE_SMOKE_GPU=sometimes\n",
            "env PIPELINE_SETTINGS: smoke.gpu: 'sometimes' is not one of auto, required, off",
        ),
        (
            # Issue 25: "did you mean PIPELINE_SMOKE_GPU?" looked identical to the input.
            "PIPELINE_SMOKE_GPU =off\n",
            "env PIPELINE_SETTINGS line 1: 'PIPELINE_SMOKE_GPU ' is not "
            "PIPELINE_<SECTION>_<KEY>=value; write PIPELINE_SMOKE_GPU=value, with no space "
            "before '='",
        ),
    ],
    ids=["misspelt", "not a setting", "no equals sign", "bad value", "space before ="],
)
def test_a_bad_settings_line_is_an_error_naming_it(
    tmp_path: Path, lines: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, environ={"PIPELINE_SETTINGS": lines})
    assert str(raised.value) == message


def test_the_cli_takes_empty_variables_without_a_word(tmp_path: Path) -> None:
    write(tmp_path)
    env = {"PIPELINE_REGISTRY_KIND": "", "PIPELINE_SETTINGS": "", "PIPELINE_VERSION_BUMP": ""}
    result = run_pipeline(tmp_path, "--json", "config", "--sources", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert '"kind": "ecr"' in result.stdout
