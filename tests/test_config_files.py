"""Config and state files a careless user leaves behind: duplicate keys, other encodings,
misspelt variables, values that cannot work, a damaged release state. Each is one clear line
(or one warning), never a traceback. Real `python -m pipeline` processes.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config.envcheck import OWN_VARIABLES
from pipeline.config.schema import setting_variables
from pipeline.release.state import CORRUPT_SUFFIX, state_path
from tests.support.project import run_pipeline

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "churn"
# Their misspelt variables are on purpose.
MISSPELLING_FILES = (Path(__file__).name, "test_config_env.py")


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "smoke:\n  port: 9000\nbuild:\n  builder: classic\nsmoke:\n  gpu: off\n",
            "pipeline.yaml:5:1: invalid YAML: duplicate key 'smoke', first at line 1",
        ),
        (
            "smoke:\n  port: 9000\n  gpu: off\n  port: 9001\n",
            "pipeline.yaml:4:3: invalid YAML: duplicate key 'port', first at line 2",
        ),
    ],
)
def test_duplicate_keys_name_both_lines(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pipeline.yaml").write_text(text, encoding="utf-8")
    assert message in one_error(run_pipeline(tmp_path, "config"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "smoke:\n\tgpu: auto\n",
            "pipeline.yaml:2:1: invalid YAML: found character '\\t' that cannot start any "
            "token; YAML allows no tabs here: indent with spaces",
        ),
        (
            "smoke:\n  gpu: yes\n",
            "pipeline.yaml: smoke.gpu: true (YAML reads an unquoted yes, no, on or off as a "
            "boolean) is not one of auto, required, off",
        ),
        (
            "smoke:\n  tolerance: 1e-4\n",
            "pipeline.yaml: smoke.tolerance: '1e-4' is text to YAML, not a number; write 1.0e-4",
        ),
        (
            "smoke:\n  tolerance: 2E5\n",
            "pipeline.yaml: smoke.tolerance: '2E5' is text to YAML, not a number; write 2.0e+5",
        ),
    ],
    ids=["tab", "yes", "1e-4", "2E5"],
)
def test_yaml_surprises_are_explained(tmp_path: Path, text: str, message: str) -> None:
    # Issue 25: the tab was quoted but not explained, `yes` was echoed as True, and `1e-4` was
    # "not a number" without the spelling YAML reads as one.
    (tmp_path / "pipeline.yaml").write_text(text, encoding="utf-8")
    assert one_error(run_pipeline(tmp_path, "config")) == f"error: {tmp_path}/{message}\n"


def test_a_number_yaml_reads_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("smoke:\n  tolerance: 1.0e-4\n", encoding="utf-8")
    result = run_pipeline(tmp_path, "config", "--json")
    assert json.loads(result.stdout)["config"]["smoke"]["tolerance"] == 1.0e-4


def test_yaml_merge_keys_may_still_override(tmp_path: Path) -> None:
    text = 'smoke:\n  env: &common\n    A: "1"\n  volumes:\n    <<: *common\n    A: "2"\n'
    (tmp_path / "pipeline.yaml").write_text(text, encoding="utf-8")
    result = run_pipeline(tmp_path, "config", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config"]["smoke"]["volumes"] == {"A": "2"}


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("utf-16", "pipeline.yaml: the file is UTF-16, not UTF-8; save it as UTF-8"),
        # No byte order mark (issue 25: "unacceptable character #x0000").
        (
            "utf-16-le",
            "pipeline.yaml: the file is UTF-16LE, not UTF-8; save it as UTF-8 (e.g. iconv -f "
            "UTF-16LE -t UTF-8 pipeline.yaml > pipeline.yaml.new",
        ),
        ("utf-16-be", "pipeline.yaml: the file is UTF-16BE, not UTF-8; save it as UTF-8"),
        ("latin-1", "pipeline.yaml:2:12: not UTF-8 (byte 0xe9; Latin-1 or another legacy"),
    ],
)
def test_a_file_not_in_utf8_is_one_error(tmp_path: Path, encoding: str, message: str) -> None:
    (tmp_path / "pipeline.yaml").write_text("project:\n  name: caf\u00e9\n", encoding=encoding)
    assert message in one_error(run_pipeline(tmp_path, "config"))


def test_a_utf8_bom_is_fine(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("smoke:\n  port: 9000\n", encoding="utf-8-sig")
    result = run_pipeline(tmp_path, "config", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config"]["smoke"]["port"] == 9000


def test_unknown_pipeline_variables_are_named_with_the_nearest_key(tmp_path: Path) -> None:
    env = {
        "PIPELINE_SMOKE_GPUS": "off",
        "PIPELINE_REGISTY_URL": "r.example.com",
        "PIPELINE_NOTHING_LIKE_IT": "1",
        "PIPELINE_STACK_DIR": "/tmp/stack",
        "PIPELINE_HUB_PASSWORD": "x",
        "PIPELINE_SMOKE_GPU": "off",
    }
    result = run_pipeline(tmp_path, "config", env=env)
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert warnings == [
        "warning: environment variable PIPELINE_NOTHING_LIKE_IT is not a pipeline setting, "
        "ignored; settings are PIPELINE_<SECTION>_<KEY>, listed in docs/configuration.md",
        "warning: environment variable PIPELINE_REGISTY_URL is not a pipeline setting, ignored; "
        "did you mean PIPELINE_REGISTRY_URL?",
        "warning: environment variable PIPELINE_SMOKE_GPUS is not a pipeline setting, ignored; "
        "did you mean PIPELINE_SMOKE_GPU?",
    ]


def test_every_pipeline_variable_the_repository_uses_is_known() -> None:
    used: set[str] = set()
    # The repository's files, new ones included, and not what .gitignore keeps out (the npm
    # packages under tests/ci: tens of thousands of files, none of them ours).
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
         "pipeline", "ci", ".github", "scripts", "tests", "docs"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for path in (REPO_ROOT / name for name in filter(None, listed.split("\0"))):
        wanted = (
            path.suffix in ("", ".py", ".yml", ".yaml", ".md")
            and path.name not in MISSPELLING_FILES
        )
        if wanted and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            used.update(re.findall(r"\bPIPELINE_[A-Z][A-Z0-9_]*[A-Z0-9]\b", text))
    # tests/test_ci_github.py feeds one in as an injection attempt; it is no variable of ours.
    unknown = used - OWN_VARIABLES - set(setting_variables()) - {"PIPELINE_X"}
    assert not unknown, f"add these to pipeline/config/envcheck.py OWN_VARIABLES: {sorted(unknown)}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "registry:\n  url: https://registry.example.com/team/\n",
            "pipeline.yaml: registry.url: 'https://registry.example.com/team/' has a scheme; "
            "write the host[:port][/namespace] alone: 'registry.example.com/team'",
        ),
        (
            "registry:\n  url: registry.example.com/MyTeam\n",
            "registry.url: 'registry.example.com/MyTeam': the namespace 'MyTeam' is not a valid",
        ),
        (
            "image:\n  name: Churn_Model\n",
            "pipeline.yaml: image.name: 'Churn_Model' is not a valid image repository path "
            "(lowercase letters, digits and . _ - between them, components joined by /); "
            "write e.g. 'churn_model'",
        ),
        ("image:\n  name: churn:1.0\n", "image.name: 'churn:1.0' holds a tag or digest"),
        (
            "build:\n  max_image_size: huge\n",
            "pipeline.yaml: build.max_image_size: 'huge' is not a size; write e.g. 2GB",
        ),
        (
            "version:\n  image_tags: []\n",
            "pipeline.yaml: version.image_tags: empty: a release would push no version tag",
        ),
        (
            "version:\n  image_tags: ['{version}', 'v {major}']\n",
            "version.image_tags: 'v {major}' gives 'v 1', not a valid Docker tag",
        ),
    ],
)
def test_values_that_cannot_work_fail_at_config_time(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "pipeline.yaml").write_text(text, encoding="utf-8")
    assert message in one_error(run_pipeline(tmp_path, "config"))


def test_values_from_the_environment_name_the_variable(tmp_path: Path) -> None:
    # "," is a list of no tags; "" would be no value at all, which leaves the default.
    result = run_pipeline(tmp_path, "config", env={"PIPELINE_VERSION_IMAGE_TAGS": ","})
    assert "env PIPELINE_VERSION_IMAGE_TAGS: version.image_tags: empty" in one_error(result)
    result = run_pipeline(tmp_path, "config", "--set", "image.name=Models/Churn")
    assert "command line: image.name: 'Models/Churn' is not a valid" in one_error(result)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ('{"commit": "', "not JSON"),
        ('{"commit": "SHA", "done": "split"}', 'done: "split" is not a list[str]'),
        ('["split"]', "a JSON list, not an object"),
        ('{"commit": "SHA", "steps": []}', "unknown field 'steps'"),
        (b"\xff\xfe{}", "not JSON"),
    ],
)
def test_a_damaged_state_file_is_set_aside_and_the_release_starts_afresh(
    git_project: Callable[..., Path], damage: str | bytes, problem: str
) -> None:
    project = git_project(EXAMPLE)
    import git

    sha = git.Repo(project).head.commit.hexsha
    path = state_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        path.write_text(damage.replace("SHA", sha), encoding="utf-8")
    result = run_pipeline(project, "release", "--only", "split")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert f"release-state.json: damaged ({problem}" in warnings[0]
    assert f"moved to release-state.json{CORRUPT_SUFFIX}, this release starts afresh" in warnings[0]
    aside = path.with_name(path.name + CORRUPT_SUFFIX)
    assert aside.read_bytes() == (
        damage if isinstance(damage, bytes) else damage.replace("SHA", sha).encode()
    )
    assert json.loads(path.read_text(encoding="utf-8"))["done"] == ["split"]
