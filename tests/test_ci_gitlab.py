"""The GitLab CI front end: ci/gitlab/release.yml (an include template and CI/CD component).

Statically: its `spec:inputs` against the jobs that use them, the real argument parser on every
`python -m pipeline ...` it runs, and GitLab's JSON schema over the pipeline that
gitlab-ci-local renders from it with several sets of inputs. For real: gitlab-ci-local runs the
build, smoke and release jobs in its shell executor on a copy of examples/churn, against the
local stack's registry, and the test checks what landed there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "ci"))
import citools

ROOT = citools.ROOT
TEMPLATE = citools.GITLAB_TEMPLATE
FIXTURE = citools.CI_TOOLS_DIR / "gitlab-project"
EXAMPLE = ROOT / "examples" / "churn"

INPUT_REFERENCE = re.compile(r"\$\[\[\s*inputs\.(\w+)\s*(?:\|[^\]]*)?\]\]")
ANY_INTERPOLATION = citools.GITLAB_INTERPOLATION
INPUT_KEYS = {"default", "description", "options", "regex", "type", "rules"}
JOBS = ("ml-release-build", "ml-release-smoke", "ml-release-release")
PREFIX_INPUT = "$[[ inputs.job_prefix ]]"
# The image the later jobs test and release: a CI/CD variable, else the build job's dotenv.
CANDIDATE = "${PIPELINE_CANDIDATE:-${IMAGE_REF:-}}"
REGISTRY = "127.0.0.1:5000"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _run_jobs(project: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run jobs for real: in the shell, each in its own copy of the project, with our Python."""
    return _gitlab_ci_local(
        project,
        "--force-shell-executor",
        "--shell-isolation",
        "--no-color",
        "--variable",
        f"PIPELINE_PYTHON={sys.executable}",
        *args,
        timeout=timeout,
    )


def _gitlab_ci_local(project: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    citools.node_package("gitlab-ci-local")
    if "--shell-isolation" in args and shutil.which("rsync") is None:  # it copies with rsync
        pytest.fail("rsync is not installed: apt-get install -y rsync", pytrace=False)
    tool = citools.CI_TOOLS_DIR / "node_modules" / ".bin" / "gitlab-ci-local"
    return subprocess.run(
        [str(tool), "--home", str(project.parent / "glci-home"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _remote_tags(origin: Path) -> str:
    """`git ls-remote --tags` of the bare origin a release pushed its tag to."""
    return subprocess.run(
        ["git", "ls-remote", "--tags", str(origin)], check=True, capture_output=True, text=True
    ).stdout


def _project(tmp_path: Path, inputs: dict[str, Any], *, example: bool = False) -> Path:
    """A git repository with the template at ci/release.yml, included with `inputs`."""
    project = tmp_path / "project"
    if example:
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
        for name in (".gitlab-ci.yml", ".gitignore", "VERSION"):
            shutil.copy(FIXTURE / name, project / name)
    else:
        project.mkdir()
        ci_file = {"include": [{"local": "ci/release.yml", "inputs": inputs}]}
        (project / ".gitlab-ci.yml").write_text(yaml.safe_dump(ci_file), encoding="utf-8")
    (project / "ci").mkdir()
    shutil.copy(TEMPLATE, project / "ci" / "release.yml")
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "feat: the churn model"],
    ):
        subprocess.run(command, cwd=project, check=True, capture_output=True)
    return project


# --- static ----------------------------------------------------------------------------------


def test_spec_inputs_match_their_uses() -> None:
    header, _, body_text = citools.gitlab_template()
    inputs = header["spec"]["inputs"]
    used = set(INPUT_REFERENCE.findall(body_text))
    assert used <= set(inputs), f"used but not declared: {sorted(used - set(inputs))}"
    assert set(inputs) <= used, f"declared but never used: {sorted(set(inputs) - used)}"
    assert len(ANY_INTERPOLATION.findall(body_text)) == len(INPUT_REFERENCE.findall(body_text))
    for name, spec in inputs.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert set(spec) <= INPUT_KEYS, f"{name}: {sorted(set(spec) - INPUT_KEYS)}"
        assert spec.get("description"), f"{name}: no description"
        if "options" in spec:
            assert spec["default"] in spec["options"], name
    # No input is required: the job image (the CI image of the template's version) has the
    # pipeline, so the template and the pipeline it runs move together.
    assert [name for name, spec in inputs.items() if "default" not in spec] == []


def test_pipeline_command_lines_parse_with_the_real_cli() -> None:
    _, jobs, _ = citools.gitlab_template()
    found: dict[str, list[list[str]]] = {}
    for name, job in jobs.items():
        for key in ("before_script", "script"):
            for line in job.get(key, []):
                script = ANY_INTERPOLATION.sub("INPUT", line)
                for argv in citools.pipeline_commands(script):
                    citools.parse_pipeline(argv, f"{TEMPLATE.name}: {name}.{key}")
                    found.setdefault(name.replace(PREFIX_INPUT, "ml-release"), []).append(argv)
    assert found == {
        ".ml-release": [["--version"]],
        "ml-release-build": [
            ["-C", "INPUT", "release", "--to", "build", "--dotenv", "$PWD/ml-release-build.env"]
        ],
        "ml-release-smoke": [
            ["-C", "INPUT", "release", "--only", "smoke", "--candidate", CANDIDATE]
        ],
        "ml-release-release": [
            [
                "-C",
                "INPUT",
                "release",
                "--from",
                "version",
                "--candidate",
                CANDIDATE,
                "--dotenv",
                "$PWD/ml-release.env",
            ]
        ],
    }


RENDER_CASES = {
    "defaults": ({"pipeline_package": "ml-release-pipeline==0.1.0"}, []),
    "no smoke, manual release, socket runner": (
        {
            "pipeline_package": "",
            "smoke": False,
            "release_when": "manual",
            "docker_services": [],
            "docker_host": "",
            "gpu_runner_tag": "nvidia-l4",
            "build_stage": "build",
            "smoke_stage": "smoke",
            "release_stage": "release",
        },
        [],
    ),
    "skip switches": (
        {"pipeline_package": "x"},
        ["--variable", "PIPELINE_SKIP_SMOKE=true", "--variable", "PIPELINE_SKIP_RELEASE=true"],
    ),
}


@pytest.mark.parametrize("case", RENDER_CASES)
def test_rendered_pipeline_is_valid_gitlab_ci(tmp_path: Path, case: str) -> None:
    inputs, variables = RENDER_CASES[case]
    project = _project(tmp_path, inputs)
    if "build_stage" in inputs:
        ci_file = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
        ci_file["stages"] = ["build", "smoke", "release"]
        (project / ".gitlab-ci.yml").write_text(yaml.safe_dump(ci_file), encoding="utf-8")

    preview = _gitlab_ci_local(project, "--preview", *variables)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    rendered_text = preview.stdout[preview.stdout.index("---") :]
    rendered = tmp_path / "rendered.yml"
    rendered.write_text(rendered_text, encoding="utf-8")
    citools.check_jsonschema("vendor.gitlab-ci", [rendered])
    pipeline = yaml.safe_load(rendered_text)

    listing = _gitlab_ci_local(project, "--list-json", *variables)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    when = {job["name"]: job["when"] for job in json.loads(listing.stdout)}
    assert set(when) == set(JOBS)

    build, smoke, release = (pipeline[name] for name in JOBS)
    for job in (build, smoke, release):
        assert job["variables"]["GIT_DEPTH"] == "0"
        assert job["variables"]["GIT_LFS_SKIP_SMUDGE"] == "0"  # weights in LFS are fetched
    assert build["artifacts"]["reports"]["dotenv"] == "ml-release-build.env"
    assert smoke["artifacts"]["reports"]["junit"] == "./.pipeline/smoke/junit.xml"
    assert smoke["artifacts"]["when"] == "always"
    assert "services" not in smoke  # a dind daemon has no GPU
    assert smoke["tags"] == [inputs.get("gpu_runner_tag", "gpu")]
    assert [need["job"] for need in release["needs"]] == ["ml-release-build", "ml-release-smoke"]

    if case == "defaults":
        assert build["services"] == [
            {"name": "docker:27-dind", "alias": "docker", "command": ["--tls=false"]}
        ]
        assert build["variables"]["DOCKER_HOST"] == "tcp://docker:2375"
        assert [build["stage"], smoke["stage"], release["stage"]] == ["build", "test", "deploy"]
        assert when == dict.fromkeys(JOBS, "on_success")
    elif case == "skip switches":
        assert when == {
            "ml-release-build": "on_success",
            "ml-release-smoke": "never",
            "ml-release-release": "never",
        }
    else:
        assert build["services"] == []
        assert [build["stage"], smoke["stage"], release["stage"]] == ["build", "smoke", "release"]
        assert when == {
            "ml-release-build": "on_success",
            "ml-release-smoke": "never",
            "ml-release-release": "manual",
        }


def test_two_models_in_one_repository_keep_their_own_jobs(tmp_path: Path) -> None:
    # A monorepo includes the template once per model: each include's jobs, needs, variables
    # and resource group are its own (global variables would keep only the last model's).
    models = {"churn": "models/churn", "ranker": "models/ranker"}
    project = _project(tmp_path, {})
    ci_file = {
        "include": [
            {
                "local": "ci/release.yml",
                "inputs": {"job_prefix": name, "project_dir": path, "image": f"team/{name}"},
            }
            for name, path in models.items()
        ]
    }
    (project / ".gitlab-ci.yml").write_text(yaml.safe_dump(ci_file), encoding="utf-8")
    subprocess.run(["git", "commit", "-qam", "two models"], cwd=project, check=True)

    preview = _gitlab_ci_local(project, "--preview")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    pipeline = yaml.safe_load(preview.stdout[preview.stdout.index("---") :])
    for name, path in models.items():
        build, smoke, release = (pipeline[f"{name}-{job}"] for job in ("build", "smoke", "release"))
        for job in (build, smoke, release):
            assert job["variables"]["PIPELINE_IMAGE_NAME"] == f"team/{name}"
            assert any(f'-C "{path}"' in line for line in job["script"])
        assert smoke["needs"][0]["job"] == f"{name}-build"
        assert [need["job"] for need in release["needs"]] == [f"{name}-build", f"{name}-smoke"]
        assert release["resource_group"] == f"{name}-$CI_COMMIT_REF_SLUG"
    assert "variables" not in pipeline or "PIPELINE_IMAGE_NAME" not in pipeline["variables"]


def test_smoke_without_a_candidate_stops_with_a_clear_message(tmp_path: Path) -> None:
    # The build dropped and no PIPELINE_CANDIDATE: the pipeline says so before touching any
    # engine (an empty --candidate is none).
    project = _project(tmp_path, {"pipeline_package": "", "docker_services": [], "docker_host": ""})
    run = _run_jobs(
        project,
        "--variable",
        "PIPELINE_SKIP_BUILD=true",
        "ml-release-smoke",
    )
    log = run.stdout + run.stderr
    assert run.returncode != 0, log
    assert re.search(r"FAIL\s+ml-release-smoke", log), log
    assert "no candidate image: run the build step first, or name the image" in log, log


def _documented_examples(doc: Path) -> list[str]:
    """The ```yaml blocks of a page, dedented (a block in a list item is indented)."""
    blocks = re.findall(r"^( *)```yaml\n(.*?)^\1```$", doc.read_text(encoding="utf-8"), re.M | re.S)
    return [textwrap.dedent(body) for _, body in blocks]


GITLAB_EXAMPLES = _documented_examples(ROOT / "docs" / "gitlab.md")
# The jobs each documented example lists, in order ({} for a fragment: the template's jobs).
GITLAB_EXAMPLE_JOBS = {
    0: [*JOBS, "deploy"],
    4: [f"{model}-{job}" for model in ("churn", "ranker") for job in ("build", "smoke", "release")],
}


@pytest.mark.parametrize("number", range(len(GITLAB_EXAMPLES)))
def test_every_documented_gitlab_example_renders(tmp_path: Path, number: int) -> None:
    # Each .gitlab-ci.yml of docs/gitlab.md with its `include: project` or `component` made
    # local; a fragment (a job redefined, the component project's own file) is added to a file
    # that includes the template.
    text = GITLAB_EXAMPLES[number]
    ci_file = yaml.safe_load(text) if "include:" in text else None
    if ci_file is not None:
        for include in ci_file["include"]:
            for key in ("project", "ref", "file", "component"):
                include.pop(key, None)
            include["local"] = "ci/release.yml"
        text = yaml.safe_dump(ci_file)
    else:
        text = "include:\n  - local: ci/release.yml\n" + text
    project = _project(tmp_path, {})
    (project / ".gitlab-ci.yml").write_text(text, encoding="utf-8")
    subprocess.run(["git", "commit", "-qam", "docs"], cwd=project, check=True)

    preview = _gitlab_ci_local(project, "--preview")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    rendered = tmp_path / "rendered.yml"
    rendered.write_text(preview.stdout[preview.stdout.index("---") :], encoding="utf-8")
    citools.check_jsonschema("vendor.gitlab-ci", [rendered])
    listing = _gitlab_ci_local(project, "--list-json")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    names = [job["name"] for job in json.loads(listing.stdout)]
    assert names[: len(GITLAB_EXAMPLE_JOBS.get(number, JOBS))] == GITLAB_EXAMPLE_JOBS.get(
        number, list(JOBS)
    )


# --- for real --------------------------------------------------------------------------------


def _registry_digest(repository: str, tag: str) -> str | None:
    response = requests.head(
        f"http://{REGISTRY}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES},
        timeout=30,
    )
    return response.headers.get("Docker-Content-Digest") if response.ok else None


def _dotenv(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _delete_repository(repository: str) -> None:
    """Best effort: the manifests this test pushed (the registry has deletes enabled)."""
    try:
        listed = requests.get(f"http://{REGISTRY}/v2/{repository}/tags/list", timeout=30)
        digests = {_registry_digest(repository, tag) for tag in listed.json().get("tags") or []}
        for digest in digests - {None}:
            requests.delete(f"http://{REGISTRY}/v2/{repository}/manifests/{digest}", timeout=30)
    except (requests.RequestException, ValueError):
        pass


def _in_job_containers(project: Path, origin: Path, *args: str) -> subprocess.CompletedProcess:
    """Run jobs as GitLab's docker executor does on a GPU runner set up with the host's socket:
    each in a container of the CI image, the engine through /var/run/docker.sock. The engine
    here has no bridge network, so the job containers use the host's (for the registry on
    loopback); the smoke candidate joins the job container's namespace all the same
    (smoke.network container), publishing no port. The bare origin is mounted where the clone's
    remote names it."""
    return _gitlab_ci_local(
        project,
        "--no-color",
        "--helper-image",
        citools.gitlab_helper_image(),
        "--volume",
        "/var/run/docker.sock:/var/run/docker.sock",
        "--volume",
        f"{origin}:{origin}",
        "--network",
        "host",
        "--variable",
        "PIPELINE_SMOKE_NETWORK=container",
        *args,
        timeout=1500,
    )


EXECUTORS = ("shell", "docker-socket")


@pytest.mark.stack
@pytest.mark.ci_runner
@pytest.mark.parametrize("executor", EXECUTORS)
def test_gitlab_ci_local_runs_build_smoke_release(
    stack: object, tmp_path: Path, executor: str
) -> None:
    project = _project(tmp_path, {}, example=True)
    if executor == "docker-socket":
        # The job image is the CI image of this tree; the project has its own pipeline.py and
        # pipeline/ (as ML repositories do), which the jobs must not run.
        ci_file = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
        (include,) = ci_file["include"]
        include["inputs"]["job_image"] = citools.ci_image()["REF"]
        (project / ".gitlab-ci.yml").write_text(yaml.safe_dump(ci_file), encoding="utf-8")
        (project / "pipeline.py").write_text("print('the project pipeline')\n", encoding="utf-8")
        (project / "pipeline").mkdir()
        (project / "pipeline" / "__init__.py").write_text("", encoding="utf-8")
        subprocess.run(["git", "add", "-A"], cwd=project, check=True)
        subprocess.run(["git", "commit", "-qm", "chore: job image"], cwd=project, check=True)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "remote", "add", "origin", str(origin)], cwd=project, check=True)
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=project, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()

    namespace = f"ci-gitlab-{uuid.uuid4().hex[:10]}"
    repository = f"{namespace}/churn"
    registry = ("--variable", f"PIPELINE_REGISTRY_URL={REGISTRY}/{namespace}")
    try:
        if executor == "shell":
            run = _run_jobs(project, *registry, timeout=1500)
        else:
            run = _in_job_containers(project, origin, *registry)
        log = run.stdout + run.stderr
        for job in JOBS:
            assert re.search(rf"PASS\s+{job}\b", log), f"{job} did not pass:\n{log[-6000:]}"
        assert run.returncode == 0, log[-6000:]

        state = project / ".gitlab-ci-local"
        build_env = _dotenv(
            state / "artifacts/ml-release-build/.gitlab-ci-reports/dotenv/ml-release-build.env"
        )
        candidate, digest = build_env["IMAGE_REF"], build_env["IMAGE_DIGEST"]
        assert candidate == f"{REGISTRY}/{repository}@{digest}"
        assert _registry_digest(repository, f"sha-{commit}") == digest

        # The dotenv report handed the candidate on: both later jobs used exactly it (their
        # release summary names it).
        for job in ("ml-release-smoke", "ml-release-release"):
            job_log = (state / "output" / f"{job}.log").read_text(encoding="utf-8")
            summary = re.search(rf"\bimage\s+{re.escape(candidate)}\s*$", job_log, re.MULTILINE)
            assert summary, job_log[-3000:]

        junit = state / "artifacts/ml-release-smoke/.pipeline/smoke/junit.xml"
        assert junit.is_file(), "the smoke job's JUnit report is not among its artifacts"
        assert 'failures="0"' in junit.read_text(encoding="utf-8")

        release_env = _dotenv(
            state / "artifacts/ml-release-release/.gitlab-ci-reports/dotenv/ml-release.env"
        )
        assert release_env["VERSION"] == "0.2.0"  # VERSION 0.1.0, input bump: minor
        assert release_env["IMAGE_DIGEST"] == digest
        tags = release_env["IMAGE_TAGS"].split(",")
        assert {"0.2.0", "0.2", "0", "latest", f"sha-{commit}"} <= set(tags)
        for tag in tags:
            assert _registry_digest(repository, tag) == digest, f"{repository}:{tag}"

        remote_tags = _remote_tags(origin)
        assert "refs/tags/v0.2.0" in remote_tags
        if executor == "docker-socket":
            smoke_log = (state / "output" / "ml-release-smoke.log").read_text(encoding="utf-8")
            assert "the project pipeline" not in smoke_log
            report = json.loads(
                (state / "artifacts/ml-release-smoke/.pipeline/smoke/report.json").read_text(
                    encoding="utf-8"
                )
            )
            assert report["network"].startswith("container:"), report["network"]
    finally:
        _delete_repository(repository)


MONOREPO_MODELS = ("churn", "ranker")


@pytest.mark.stack
@pytest.mark.ci_runner
def test_two_models_of_one_repository_release_side_by_side(stack: object, tmp_path: Path) -> None:
    # Two copies of examples/churn under models/, one include each (job_prefix). Each release
    # job commits its VERSION and pushes the branch with its tag (churn-v0.1.1, ranker-v0.1.1);
    # the second job's clone lacks the first's release commit, so it goes on top of it.
    project = tmp_path / "project"
    for model in MONOREPO_MODELS:
        shutil.copytree(
            EXAMPLE, project / "models" / model, ignore=shutil.ignore_patterns("__pycache__")
        )
        config = project / "models" / model / "pipeline.yaml"
        config.write_text(
            config.read_text(encoding="utf-8") + f"version:\n  tag_prefix: {model}-v\n",
            encoding="utf-8",
        )
    shutil.copy(FIXTURE / ".gitignore", project / ".gitignore")
    (project / "ci").mkdir()
    shutil.copy(TEMPLATE, project / "ci" / "release.yml")
    shell_runner = {"pipeline_package": "", "docker_services": [], "docker_host": ""}
    stages = {"build_stage": "build", "smoke_stage": "smoke", "release_stage": "release"}
    ci_file = {
        "stages": ["build", "smoke", "release"],
        "include": [
            {
                "local": "ci/release.yml",
                "inputs": {
                    "job_prefix": model,
                    "project_dir": f"models/{model}",
                    "image": model,
                    "bump": "patch",
                    **shell_runner,
                    **stages,
                },
            }
            for model in MONOREPO_MODELS
        ],
        "variables": {"PIPELINE_IMAGE_NETWORK": "host", "PIPELINE_SMOKE_NETWORK": "host"},
    }
    (project / ".gitlab-ci.yml").write_text(yaml.safe_dump(ci_file), encoding="utf-8")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "feat: two models"],
        ["git", "remote", "add", "origin", str(origin)],
        ["git", "push", "-q", "origin", "main"],
    ):
        subprocess.run(command, cwd=project, check=True, capture_output=True)

    namespace = f"ci-gitlab-{uuid.uuid4().hex[:10]}"
    try:
        run = _run_jobs(
            project,
            "--variable",
            f"PIPELINE_REGISTRY_URL={REGISTRY}/{namespace}",
            timeout=1500,
        )
        log = run.stdout + run.stderr
        for model in MONOREPO_MODELS:
            for job in ("build", "smoke", "release"):
                assert re.search(rf"PASS\s+{model}-{job}\b", log), f"{model}-{job}:\n{log[-6000:]}"
        assert run.returncode == 0, log[-6000:]
        state = project / ".gitlab-ci-local"
        remote_tags = _remote_tags(origin)
        for model in MONOREPO_MODELS:
            release_env = _dotenv(
                state / f"artifacts/{model}-release/.gitlab-ci-reports/dotenv/ml-release.env"
            )
            assert release_env["VERSION"] == "0.1.1"
            digest = release_env["IMAGE_DIGEST"]
            assert _registry_digest(f"{namespace}/{model}", "0.1.1") == digest, model
            assert f"refs/tags/{model}-v0.1.1" in remote_tags
            shown = subprocess.run(
                ["git", "show", f"main:models/{model}/VERSION"],
                cwd=origin,
                check=True,
                capture_output=True,
                text=True,
            )
            assert shown.stdout.strip() == "0.1.1"  # both release commits are on the branch
    finally:
        for model in MONOREPO_MODELS:
            _delete_repository(f"{namespace}/{model}")
