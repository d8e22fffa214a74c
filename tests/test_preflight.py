"""`release` checks what it can know before its first push; `release --dry-run` reports it.

Each failure here used to surface after the images (`latest` included) were pushed. Real git
repositories with bare remotes, the stack's registries on loopback, `python -m pipeline` run as
a user runs it. Every case fails in the preflight, so no engine is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import git
import pytest
import requests

from pipeline.distribution.client import RegistryAPI
from tests.support.project import EXAMPLE, run_pipeline

LOCAL = "127.0.0.1:5000"
NOTHING_DONE = "nothing was built, pushed, tagged or written"
CHECKS = [
    "build context",
    "image name",
    "output files",
    "smoke samples",
    "health route",
    "version",
    "registry",
    "image tags",
    "git push",
]


@pytest.fixture(autouse=True)
def outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """A laptop: no CI variable names the branch of a detached HEAD."""
    for name in ("CI_COMMIT_REF_NAME", "GITHUB_REF_NAME"):
        monkeypatch.delenv(name, raising=False)


def refused(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """`release ARGS` fails in the preflight, with one error and nothing done; its stderr."""
    version = (project / "VERSION").read_text()
    result = run_pipeline(project, "release", *args, env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "▶" not in result.stderr
    assert f"; {NOTHING_DONE}" in result.stderr
    repo = git.Repo(project)
    assert repo.tags == [] and not repo.is_dirty()
    assert (project / "VERSION").read_text() == version
    assert not (project / ".pipeline").exists()
    return result.stderr


def nothing_pushed(namespace: str) -> bool:
    return RegistryAPI(LOCAL).tags(f"{namespace}/churn") == []


@pytest.mark.stack
def test_no_git_remote(stack, released_project) -> None:
    project, namespace, _ = released_project
    git.Repo(project).delete_remote("origin")
    err = refused(project)
    assert err.startswith(
        "error: release preflight: git push: the repository has no remote to push the release "
        "tag to; add one, or set version.push_tag: false"
    )
    assert nothing_pushed(namespace)


@pytest.mark.stack
def test_detached_head_with_a_version_bump(stack, released_project) -> None:
    project, namespace, _ = released_project
    git.Repo(project).git.checkout("--detach")
    err = refused(project, "--bump", "patch")
    assert "git push: HEAD is detached and no CI variable names its branch" in err
    assert nothing_pushed(namespace)

    # In CI the branch comes from the job's variables: the same release passes the preflight.
    result = run_pipeline(
        project,
        "release",
        "--bump",
        "patch",
        "--dry-run",
        "--json",
        env={"GITHUB_REF_NAME": "main"},
    )
    assert result.returncode == 0, result.stderr
    checks = {check["check"]: check for check in json.loads(result.stdout)["preflight"]}
    assert checks["git push"] == {
        "check": "git push",
        "ok": True,
        "detail": "origin accepts v0.1.1 and branch main (dry run)",
    }


@pytest.mark.stack
def test_a_remote_that_is_gone(stack, released_project) -> None:
    project, namespace, remote = released_project
    shutil.rmtree(remote)
    err = refused(project)
    assert (
        f"git push: git push --dry-run origin HEAD:refs/tags/v0.1.0 failed: fatal: '{remote}' "
        "does not appear to be a git repository"
    ) in err
    assert nothing_pushed(namespace)


@pytest.mark.stack
def test_a_remote_that_holds_the_tag_on_another_commit(stack, released_project, tmp_path) -> None:
    project, namespace, remote = released_project
    other = git.Repo.clone_from(str(remote), tmp_path / "other")
    other.git.commit("--allow-empty", "-m", "fix: elsewhere")
    other.create_tag("v0.1.0", message="Release 0.1.0")
    other.git.push("origin", "v0.1.0")
    err = refused(project)
    assert "git push --dry-run origin HEAD:refs/tags/v0.1.0 failed: " in err
    assert "rejected" in err or "atomic push failed" in err
    assert nothing_pushed(namespace)


@pytest.mark.stack
def test_a_wrong_registry_password_fails_in_seconds(stack, hub_project) -> None:
    started = time.monotonic()
    err = refused(hub_project, env={"DOCKERHUB_TOKEN": "not-the-password"})
    assert time.monotonic() - started < 30
    assert "release preflight: registry: registry hub.pipeline.test: could not start a push" in err
    assert "HTTP 401" in err and "check the registry credentials" in err
    assert "not-the-password" not in err


@pytest.mark.stack
def test_the_right_registry_password_passes(stack, hub_project) -> None:
    result = run_pipeline(hub_project, "release", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    checks = json.loads(result.stdout)["preflight"]
    registry = next(check for check in checks if check["check"] == "registry")
    assert registry["ok"] and registry["detail"].endswith(
        f"accepts a push as {os.environ['PIPELINE_HUB_USERNAME']}"
    )


@pytest.mark.stack
def test_an_unreachable_registry(stack, released_project) -> None:
    project, _, _ = released_project
    err = refused(project, "--set", "registry.url=127.0.0.1:5999", "--set", "registry.retries=0")
    assert "registry: registry 127.0.0.1:5999: could not start a push" in err
    assert "connection refused" in err


@pytest.mark.stack
def test_a_released_version_is_never_overwritten(stack, released_project) -> None:
    project, namespace, _ = released_project
    digest = put_image(f"{namespace}/churn", "0.1.0")
    err = refused(project)
    assert (
        f"image tags: {LOCAL}/{namespace}/churn: 0.1.0 ({digest}) exist already, on another image"
    ) in err
    assert RegistryAPI(LOCAL).tags(f"{namespace}/churn") == ["0.1.0"]


@pytest.mark.stack
def test_a_dirty_tree_is_never_released(stack, released_project) -> None:
    project, namespace, _ = released_project
    (project / "serve" / "app.py").write_text("# edited\n", encoding="utf-8")
    (project / "notes.txt").write_text("untracked\n", encoding="utf-8")
    result = run_pipeline(project, "release", "--set", "build.allow_dirty=true")
    assert result.returncode == 1, result.stderr
    assert "build context: differs from commit" in result.stderr
    assert "(2 file(s): serve/app.py, notes.txt)" in result.stderr
    assert "▶" not in result.stderr
    assert nothing_pushed(namespace)


@pytest.mark.stack
def test_dry_run_reports_every_check(stack, released_project) -> None:
    project, namespace, _ = released_project
    result = run_pipeline(project, "release", "--dry-run")
    assert result.returncode == 0, result.stderr
    sha = git.Repo(project).head.commit.hexsha[:7]
    lines = [line for line in result.stdout.splitlines() if line.startswith("preflight")]
    assert [line.split(":")[0].split(maxsplit=2)[2] for line in lines] == CHECKS
    assert all(line.split()[1] == "ok" for line in lines)
    assert f"writes 0.1.0, sha-{sha}, 0.1, 0, latest" in lines[7]
    assert nothing_pushed(namespace) and not (project / ".pipeline").exists()


def test_steps_that_push_nothing_need_no_preflight(git_project) -> None:
    """No registry nor remote here: split and lint run as before."""
    project = git_project(EXAMPLE, "registry:\n  url: 127.0.0.1:5999\n")
    result = run_pipeline(project, "release", "--to", "lint")
    assert result.returncode == 0, result.stderr
    assert "preflight" not in result.stderr


@pytest.fixture
def hub_project(released_project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The released project pushing to the TLS + htpasswd registry, with its credentials set."""
    project, namespace, _ = released_project
    password = Path(os.environ["PIPELINE_HUB_PASSWORD_FILE"]).read_text().strip()
    monkeypatch.setenv("DOCKERHUB_USERNAME", os.environ["PIPELINE_HUB_USERNAME"])
    monkeypatch.setenv("DOCKERHUB_TOKEN", password)
    config = project / "pipeline.yaml"
    text = config.read_text().replace(
        f"  url: {LOCAL}\n", f"  kind: dockerhub\n  url: hub.pipeline.test/{namespace}\n"
    )
    config.write_text(text.replace(f"name: {namespace}/churn", "name: churn"))
    repo = git.Repo(project)
    repo.git.commit("-am", "chore: push to the hub")
    repo.git.push("origin", "main")
    return project


def put_image(path: str, tag: str) -> str:
    """An image of no layers under `path:tag` in the local registry; its manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
    config_digest = "sha256:" + hashlib.sha256(config.encode()).hexdigest()
    upload = requests.post(f"http://{LOCAL}/v2/{path}/blobs/uploads/", timeout=30)
    upload.raise_for_status()
    location = upload.headers["Location"]
    if location.startswith("/"):
        location = f"http://{LOCAL}{location}"
    separator = "&" if "?" in location else "?"
    requests.put(
        f"{location}{separator}digest={config_digest}", data=config.encode(), timeout=30
    ).raise_for_status()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [],
    }
    response = requests.put(
        f"http://{LOCAL}/v2/{path}/manifests/{tag}",
        data=json.dumps(manifest).encode(),
        headers={"Content-Type": manifest["mediaType"]},
        timeout=30,
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]
