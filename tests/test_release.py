"""`pipeline release`: the step sequence, its state file, resuming, and the CI outputs."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core.errors import UserError
from pipeline.distribution.client import RegistryAPI
from pipeline.engine.transfer import push
from pipeline.release.outputs import text_summary, write_dotenv, write_github
from pipeline.release.state import ReleaseState, load_state, state_path
from tests.support.project import GIT_IDENTITY, commit_all
from tests.test_preflight import CHECKS

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "churn"


def release(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> tuple[int, str]:
    code = main(["release", "-C", str(project), *extra])
    return code, capsys.readouterr().err


def test_failed_step_stops_the_release_and_a_rerun_continues_there(
    git_project: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = git_project(EXAMPLE)
    dockerfile = project / "Dockerfile"
    good = dockerfile.read_text()
    dockerfile.write_text(good.replace("pip install --no-cache-dir", "pip install"))
    commit_all(project, "break the Dockerfile")

    code, err = release(capsys, project, "--to", "lint")
    assert code == 2
    assert "release stopped at lint: lint: " in err
    assert "`python -m pipeline release` continues from lint" in err
    assert json.loads(state_path(project).read_text())["done"] == ["split"]

    dockerfile.write_text(good)
    code, err = release(capsys, project, "--to", "lint")
    assert code == 0, err
    assert "▶ split" not in err  # done for this commit already
    assert "▶ lint" in err
    assert json.loads(state_path(project).read_text())["done"] == ["split", "lint"]


def test_state_belongs_to_one_commit(git_project: Callable[..., Path], capsys) -> None:
    project = git_project(EXAMPLE)
    assert release(capsys, project, "--only", "split")[0] == 0
    first = json.loads(state_path(project).read_text())
    assert first["done"] == ["split"]
    new_sha = commit_all(project, "feat: something new")
    assert load_state(project, new_sha, warn=pytest.fail) == ReleaseState(commit=new_sha)


def test_state_goes_on_where_head_carries_its_release(tmp_path: Path) -> None:
    # HEAD is the saved release's commit put on top of a branch that moved: same release.
    saved = ReleaseState(
        commit="b" * 40, done=["build", "smoke", "version", "push"], version="1.0.1"
    )
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(dataclasses.asdict(saved)))
    assert load_state(tmp_path, "r" * 40, pytest.fail, lambda state: state.version == "1.0.1") == (
        saved
    )
    assert load_state(tmp_path, "r" * 40, pytest.fail) == ReleaseState(commit="r" * 40)


def test_step_ranges_and_bad_combinations(git_project: Callable[..., Path], capsys) -> None:
    project = git_project(EXAMPLE)
    code, err = release(capsys, project, "--from", "push", "--to", "lint")
    assert code == 1
    assert "--from push comes after --to lint" in err
    code, err = release(capsys, project, "--only", "push")
    assert code == 1
    assert "no version decided" in err or "no candidate image" in err


def test_ci_outputs(tmp_path: Path) -> None:
    state = ReleaseState(
        commit="abc",
        done=["build", "push"],
        candidate="127.0.0.1:5000/examples/churn@sha256:" + "1" * 64,
        version="1.3.0",
        tags=["1.3.0", "1.3", "1", "latest", "sha-abc1234"],
    )
    output, summary = tmp_path / "out", tmp_path / "summary.md"
    write_github(state, {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)})
    assert output.read_text().splitlines() == [
        "version=1.3.0",
        "tags=1.3.0,1.3,1,latest,sha-abc1234",
        "digest=sha256:" + "1" * 64,
        "image=127.0.0.1:5000/examples/churn@sha256:" + "1" * 64,
    ]
    assert "| version | `1.3.0` |" in summary.read_text()
    dotenv = tmp_path / "release.env"
    write_dotenv(state, dotenv)
    assert dotenv.read_text().splitlines() == [
        "IMAGE_DIGEST=sha256:" + "1" * 64,
        "IMAGE_REF=127.0.0.1:5000/examples/churn@sha256:" + "1" * 64,
        "IMAGE_TAGS=1.3.0,1.3,1,latest,sha-abc1234",
        "VERSION=1.3.0",
    ]


def test_ci_outputs_that_cannot_be_written_are_an_error_not_a_traceback(tmp_path: Path) -> None:
    # The preflight checks them; this is a path that broke during the release.
    state = ReleaseState(commit="abc", done=["tag"], version="1.3.0")
    with pytest.raises(UserError, match=rf"^GITHUB_OUTPUT {tmp_path}: cannot write: Is a dir"):
        write_github(state, {"GITHUB_OUTPUT": str(tmp_path)})
    with pytest.raises(UserError, match="the release itself is done"):
        write_dotenv(state, tmp_path)


def test_the_summary_gives_each_figure_the_release_recorded() -> None:
    facts = {
        "image_size": 734_003_200,
        "compressed_size": 250_000_000,
        "cache_hit_ratio": 0.875,
        "build_backend": "buildx",
        "build_seconds": 61.25,
        "latency_ms": {"p50": 3.21, "p95": 9.87},
        "gpu": {"used": False, "note": ""},
    }
    state = ReleaseState(
        commit="abc",
        done=["build", "smoke"],
        seconds={"build": 61.25, "smoke": 11.0},
        candidate="r/x@sha256:1",
        version="1.3.0",
        tags=["1.3.0", "latest"],
        facts=facts,
    )
    assert text_summary(state).splitlines() == [
        "version          1.3.0",
        "tags             1.3.0, latest",
        "image            r/x@sha256:1",
        "image size       734.0 MB (250.0 MB compressed)",
        "cache hit ratio  88%",
        "build            buildx, 61.2s",
        "smoke latency    p50 3.2 ms, p95 9.9 ms",
        "gpu              not used",
        "steps            build 61.2s, smoke 11.0s",
    ]
    nothing = ReleaseState(commit="abc", no_release_reason="no commits since v1.2.0")
    assert text_summary(nothing).splitlines() == [
        "version  no release (no commits since v1.2.0)",
        "tags     -",
        "image    -",
        "steps    -",
    ]


@pytest.mark.stack
def test_dry_run_prints_the_plan_and_touches_nothing(stack, released_project, capsys) -> None:
    project, namespace, _ = released_project
    code = main(["release", "-C", str(project), "--dry-run", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    plan = json.loads(captured.out)
    assert plan["steps"] == ["split", "lint", "build", "smoke", "version", "sign", "push", "tag"]
    assert plan["version"] == "0.1.0"
    assert plan["tags"][:1] == ["0.1.0"] and "latest" in plan["tags"]
    assert plan["candidate"].startswith(f"127.0.0.1:5000/{namespace}/churn:sha-")
    assert not state_path(project).exists()
    assert RegistryAPI("127.0.0.1:5000").tags(f"{namespace}/churn") == []


@pytest.mark.stack
def test_release_killed_during_push_completes_on_rerun_without_rebuild(
    stack, released_project, capsys
) -> None:
    import git

    project, namespace, remote = released_project
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "release", "-C", str(project)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("▶ push"):
            process.kill()
            break
    process.wait(timeout=60)
    assert any(line.startswith("▶ push") for line in seen), "".join(seen[-30:])
    # Checked before the first step: the tag's remote and branch, the registry, the tags.
    assert "preflight: " + ", ".join(f"{check} ok" for check in CHECKS) + "\n" in seen
    state = json.loads(state_path(project).read_text())
    assert {"build", "smoke", "version"} <= set(state["done"])
    assert "tag" not in state["done"]

    code = main(["release", "-C", str(project), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "▶ build" not in captured.err and "▶ smoke" not in captured.err
    result = json.loads(captured.out)
    assert result["version"] == "0.1.0"
    assert result["tags"] == ["0.1.0", f"sha-{state['commit'][:7]}", "0.1", "0", "latest"]
    # The digest buildx pushed is the one smoke tested and every tag now points at.
    assert state["candidate"].endswith(f"@{result['digest']}")
    api = RegistryAPI("127.0.0.1:5000")
    for tag in result["tags"]:
        assert api.digest(f"{namespace}/churn", tag) == result["digest"], tag
    assert "v0.1.0" in [t.name for t in git.Repo(remote).tags]


@pytest.mark.stack
def test_a_failed_smoke_check_stops_the_release_with_exit_2(
    stack, docker_client, released_project, capsys
) -> None:
    project, namespace, _ = released_project
    ref = f"127.0.0.1:5000/{namespace}/broken:exits"
    image, _ = docker_client.images.build(
        fileobj=io.BytesIO(b'FROM python:3.11-slim\nCMD ["python", "-c", "raise SystemExit(3)"]\n'),
        tag=ref,
        rm=True,
    )
    digest = push(ref, None).digest
    candidate = f"127.0.0.1:5000/{namespace}/broken@{digest}"

    code, err = release(capsys, project, "--only", "smoke", "--candidate", candidate)

    assert code == 2, err
    assert "release stopped at smoke: smoke test of" in err
    assert "exited with code 3" in err or "exit code 3" in err
    assert "Traceback" not in err
    docker_client.images.remove(image.id, force=True)


def test_tag_step_without_a_git_identity_is_a_clear_error(
    git_project: Callable[..., Path], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import git

    project = git_project(EXAMPLE)
    head = git.Repo(project).head.commit.hexsha
    for name in GIT_IDENTITY:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("EMAIL", "")
    monkeypatch.setenv("PIPELINE_VERSION_PUSH_TAG", "false")
    (project / "VERSION").write_text("0.2.0\n")

    code, err = release(capsys, project, "--from", "version", "--to", "version")
    assert code == 0, err
    code, err = release(capsys, project, "--only", "tag")

    assert code == 1, err
    assert "give git an identity" in err
    assert "Traceback" not in err
    assert git.Repo(project).head.commit.hexsha == head


@pytest.mark.stack
def test_monorepo_releases_that_bump_from_behind_the_remote_all_finish(
    stack, tmp_path: Path, capsys
) -> None:
    """Issue 23: two models of one repository released with a bump by parallel jobs; the second
    job's checkout is behind the first one's release commit. Issue 25: the branch moved between
    the push and the tag, the user ran `git pull --rebase`, and the re-run finishes."""
    import git

    from pipeline.config.schema import load_config
    from pipeline.versioning import tag_release

    namespace = f"test-monorepo-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "source"
    for model in ("a", "b"):
        shutil.copytree(EXAMPLE, source / model, ignore=shutil.ignore_patterns("__pycache__"))
        (source / model / "pipeline.yaml").write_text(
            f"project:\n  name: {model}\n"
            f"image:\n  name: {namespace}/{model}\n  network: host\n"
            "registry:\n  url: 127.0.0.1:5000\n"
            "smoke:\n  network: host\n  start_period: 120\n"
            f"version:\n  tag_prefix: {model}-v\n",
            encoding="utf-8",
        )
    git.Repo.init(source, initial_branch="main")
    commit_all(source, "feat: two models")
    remote = git.Repo.clone_from(source, tmp_path / "origin.git", bare=True)
    job_a, job_b = (git.Repo.clone_from(remote.git_dir, tmp_path / job) for job in ("ja", "jb"))

    def released(work: git.Repo, model: str, *extra: str) -> dict[str, object]:
        code = main(["release", "-C", f"{work.working_dir}/{model}", "--json", *extra])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "Traceback" not in captured.err
        return json.loads(captured.out)

    first = released(job_a, "a", "--bump", "patch")
    second = released(job_b, "b", "--bump", "patch")  # its checkout lacks a's release commit
    assert (first["version"], second["version"]) == ("0.1.1", "0.1.1")
    b_tag = remote.tags["b-v0.1.1"].commit
    assert remote.heads.main.commit == b_tag == job_b.head.commit
    assert b_tag.parents[0] == remote.tags["a-v0.1.1"].commit
    assert released(job_b, "b")["version"] == "0.1.1"  # a re-run: every step done already

    # a's next release is pushed, then the branch moves before its tag step (simulated as the
    # old tag step left it: release commit and tag made, the push rejected), then the user
    # rebases onto the branch.
    job_a.git.pull("--rebase", "origin", "main")
    (Path(job_a.working_dir) / "a" / "NOTES.md").write_text("fixed\n")
    commit_all(Path(job_a.working_dir), "fix: a")
    job_a.git.push("origin", "main")
    released(job_a, "a", "--to", "push")
    job_b.git.pull("--rebase", "origin", "main")
    (Path(job_b.working_dir) / "README.md").write_text("two models\n")
    commit_all(Path(job_b.working_dir), "docs: the repository")
    job_b.git.push("origin", "main")
    tag_release(load_config(Path(job_a.working_dir) / "a"), "0.1.2", push=False)
    job_a.git.pull("--rebase", "origin", "main")

    code = main(["release", "-C", f"{job_a.working_dir}/a", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "▶ build" not in captured.err and "▶ push" not in captured.err
    assert json.loads(captured.out)["version"] == "0.1.2"
    assert remote.tags["a-v0.1.2"].commit == remote.heads.main.commit == job_a.head.commit
    assert remote.git.show("main:a/VERSION") == "0.1.2"
