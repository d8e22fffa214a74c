"""pipeline.yaml loading, precedence and the one-line errors, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config.schema import load_config


def write(project: Path, text: str) -> None:
    (project / "pipeline.yaml").write_text(text, encoding="utf-8")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.build.builder == "auto"
    assert config.project_name == tmp_path.name
    assert config.image_name == tmp_path.name


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    write(tmp_path, "build:\n  builder: buildx\nsmoke:\n  port: 9000\n  requests: 5\n")
    config = load_config(
        tmp_path,
        environ={"PIPELINE_SMOKE_PORT": "9100", "PIPELINE_SMOKE_REQUESTS": "7"},
        overrides=[("smoke.requests", "9")],
    )
    assert config.build.builder == "buildx"
    assert config.smoke.port == 9100
    assert config.smoke.requests == 9
    assert config.sources == {
        "build.builder": str(tmp_path / "pipeline.yaml"),
        "smoke.port": "env PIPELINE_SMOKE_PORT",
        "smoke.requests": "command line",
    }


def test_text_values_are_parsed_by_type(tmp_path: Path) -> None:
    config = load_config(
        tmp_path,
        environ={
            "PIPELINE_SPLIT_BASE_ADD": "mylib, other-*",
            "PIPELINE_SMOKE_ENV": '{"A": "1"}',
            "PIPELINE_IMAGE_BUILD_ARGS": "X=1,Y=two",
            "PIPELINE_REGISTRY_CREATE_REPOSITORY": "no",
            "PIPELINE_IMAGE_TARGET": "null",
        },
    )
    assert config.split.base_add == ["mylib", "other-*"]
    assert config.smoke.env == {"A": "1"}
    assert config.image.build_args == {"X": "1", "Y": "two"}
    assert config.registry.create_repository is False
    assert config.image.target is None


def test_a_bare_off_in_yaml_is_the_choice_off(tmp_path: Path) -> None:
    """YAML 1.1 reads `off` as false; for a setting that offers "off", it means "off"."""
    write(tmp_path, "build:\n  patch: off\nsmoke:\n  gpu: off\n")
    config = load_config(tmp_path)
    assert (config.build.patch, config.smoke.gpu) == ("off", "off")


def test_yaml_scalars_in_mappings_become_strings(tmp_path: Path) -> None:
    write(tmp_path, "smoke:\n  env:\n    BATCH_SIZE: 8\n    DEBUG: true\n")
    assert load_config(tmp_path).smoke.env == {"BATCH_SIZE": "8", "DEBUG": "true"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "registry:\n  kind: ecs\n",
            "pipeline.yaml: registry.kind: 'ecs' is not one of dockerhub, ecr, gar, gcr, generic",
        ),
        ("build:\n  buidler: classic\n", "build.buidler: unknown key; did you mean 'builder'?"),
        (
            "build:\n  compression: zstd:19\n",
            "pipeline.yaml: build.compression: 'zstd:19' is not one of gzip, zstd",
        ),
        ("smok:\n  port: 1\n", "smok: unknown section; did you mean 'smoke'?"),
        ("smoke:\n  port: eighty\n", "smoke.port: 'eighty' is not an integer"),
        (
            "smoke:\n  port: 99999\n",
            "pipeline.yaml: smoke.port: 99999 is not a TCP port; write the port the app listens "
            "on, 1 to 65535 (e.g. 8080)",
        ),
        ("smoke:\n  port: 0\n", "smoke.port: 0 is not a TCP port"),
        (
            "smoke:\n  health: ping\n",
            "pipeline.yaml: smoke.health: 'ping' is not a URL path; write one that starts with /,"
            " e.g. /health",
        ),
        ("smoke:\n  enabled: maybe\n", "smoke.enabled: 'maybe' is not true or false"),
        ("split:\n  base_add: torch\n", "split.base_add: 'torch' is not a list of strings"),
        ("build: [1, 2]\n", "build: must be a mapping of keys"),
        ("- a\n- b\n", "the top level must be a mapping of sections"),
        ("build:\n  builder: [unclosed\n", "pipeline.yaml:3:1: invalid YAML"),
    ],
)
def test_broken_file_gives_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    write(tmp_path, text)
    code, out, err = run_cli(capsys, "config", "-C", str(tmp_path))
    assert code == 1
    assert out == ""
    assert message in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


def test_bad_env_and_flag_name_their_origin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_SMOKE_GPU", "sometimes")
    code, _, err = run_cli(capsys, "config", "-C", str(tmp_path))
    assert code == 1
    assert "env PIPELINE_SMOKE_GPU: smoke.gpu: 'sometimes' is not one of auto, required, off" in err
    monkeypatch.delenv("PIPELINE_SMOKE_GPU")
    code, _, err = run_cli(capsys, "config", "-C", str(tmp_path), "--set", "smoke.gpus=off")
    assert code == 1
    assert "--set smoke.gpus: unknown key; did you mean 'gpu'?" in err


def test_config_prints_resolved_values_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "project:\n  name: churn\nregistry:\n  kind: ecr\n")
    code, out, _ = run_cli(
        capsys, "--json", "config", "-C", str(tmp_path), "--sources", "--set", "smoke.gpu=off"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["config"]["image"]["name"] == "churn"
    assert payload["config"]["registry"]["kind"] == "ecr"
    assert payload["config"]["smoke"]["gpu"] == "off"
    assert payload["sources"]["smoke.gpu"] == "command line"


def test_missing_explicit_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "config", "-c", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert "nope.yaml: no such configuration file" in err


def test_docs_configuration_reference_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    assert main(["config", "--reference"]) == 0
    assert capsys.readouterr().out == docs.read_text(encoding="utf-8"), (
        "docs/configuration.md is stale: python -m pipeline config --reference > "
        "docs/configuration.md"
    )
