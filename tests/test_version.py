"""`pipeline version` and the versioning rules, on real git repositories built here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from git import Repo as git_repo
from semver import Version

from pipeline.cli import main
from pipeline.config.schema import load_config
from pipeline.core.errors import UserError
from pipeline.versioning import image_tags, tag_release
from pipeline.versioning.commits import bump_of
from pipeline.versioning.release_tag import carried_release
from tests.support.project import commit_all

TEMPLATES = ["{version}", "{major}.{minor}", "{major}", "latest", "sha-{sha}"]


@pytest.fixture(autouse=True)
def no_ci_branch(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests choose the CI variables themselves, also when they run inside CI."""
    for name in ("CI_COMMIT_REF_NAME", "GITHUB_REF_NAME"):
        monkeypatch.delenv(name, raising=False)


def git(project: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def make_repo(tmp_path: Path, version: str | None = "1.2.0", config: str = "") -> Path:
    project = tmp_path / "project"
    project.mkdir()
    if version is not None:
        (project / "VERSION").write_text(f"{version}\n")
    (project / "pipeline.yaml").write_text(config)
    (project / "app.py").write_text("print('hello')\n")
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "chore: initial")
    return project


def commit(project: Path, message: str) -> str:
    git(project, "commit", "-q", "--allow-empty", "-m", message)
    return git(project, "rev-parse", "HEAD")


def release(project: Path, version: str) -> None:
    """What a finished release leaves: VERSION committed, the commit tagged."""
    (project / "VERSION").write_text(f"{version}\n")
    commit_all(project, f"chore(release): {version} [skip ci]")
    git(project, "tag", "-a", f"v{version}", "-m", f"Release {version}")


def version_json(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> dict:
    code = main(["version", "--json", "-C", str(project), *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def version_error(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> str:
    code = main(["version", "-C", str(project), *args])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("message", "bump"),
    [
        ("feat: batch predictions", "minor"),
        ("Feat(api): types are case-insensitive", "minor"),
        ("fix: round probabilities", "patch"),
        ("perf(model): quantize", "patch"),
        ("feat!: drop the v1 route", "major"),
        ("fix(api)!: rename a field", "major"),
        ("fix: a field\n\nBREAKING CHANGE: clients must send `features`", "major"),
        ("chore: x\n\nBREAKING-CHANGE: the footer counts on any type", "major"),
        ("feat: x\n\nbreaking change: lowercase is not the footer", "minor"),
        ("chore: bump deps", None),
        ("docs: readme", None),
        ("Merge branch 'feature' into main", None),
        ("update the model", None),
        ("feat:missing space", None),
    ],
)
def test_conventional_commit_bumps(message: str, bump: str | None) -> None:
    assert bump_of(message) == bump


def test_first_release_is_the_version_file_as_it_is(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, "0.1.0")
    commit(project, "feat: something")
    result = version_json(capsys, project)
    assert result["next"] == "0.1.0"
    assert result["release"] is True
    assert "not released yet" in result["reason"]


def test_strongest_commit_since_the_last_tag_decides(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    commit(project, "feat: before the release, counted already")
    release(project, "1.2.0")
    fix = commit(project, "fix: a bug")
    feat = commit(project, "feat(api): a route")
    commit(project, "chore: noise")

    result = version_json(capsys, project)

    assert (result["current"], result["next"], result["bump"]) == ("1.2.0", "1.3.0", "minor")
    assert result["last_tag"] == "v1.2.0"
    assert [c["sha"] for c in result["commits"]] == [feat[:7], fix[:7]]
    assert result["commits"][0] == {
        "sha": feat[:7],
        "subject": "feat(api): a route",
        "bump": "minor",
    }
    assert result["reason"] == "minor: 2 commits since v1.2.0"
    assert result["written"] == str(project / "VERSION")
    assert (project / "VERSION").read_text() == "1.3.0\n"
    head = git(project, "rev-parse", "HEAD")
    assert result["tags"] == ["1.3.0", f"sha-{head[:7]}", "1.3", "1", "latest"]


def test_nothing_to_release(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    release(project, "1.2.0")
    commit(project, "docs: typo")
    result = version_json(capsys, project)
    assert result["release"] is False and result["next"] is None
    assert result["reason"] == "no feat, fix, perf or breaking commit since v1.2.0"
    assert result["tags"] == [] and result["written"] is None
    assert main(["version", "--print", "-C", str(project)]) == 0
    assert capsys.readouterr().out == "1.2.0\n"


def test_print_writes_nothing(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    release(project, "1.2.0")
    commit(project, "fix: x")
    assert main(["version", "--print", "-C", str(project)]) == 0
    assert capsys.readouterr().out == "1.2.1\n"
    assert (project / "VERSION").read_text() == "1.2.0\n"


@pytest.mark.parametrize(
    ("message", "expected"),
    [("feat!: breaking", "0.5.0"), ("feat: new", "0.5.0"), ("fix: small", "0.4.1")],
)
def test_zero_major_never_leaves_zero_on_its_own(tmp_path, capsys, message, expected) -> None:
    project = make_repo(tmp_path, "0.4.0")
    release(project, "0.4.0")
    commit(project, message)
    assert version_json(capsys, project, "--print")["next"] == expected


@pytest.mark.parametrize(
    ("bump", "expected"),
    [("major", "2.0.0"), ("minor", "1.3.0"), ("patch", "1.2.1"), ("none", "1.2.0")],
)
def test_explicit_bumps(tmp_path, capsys, bump: str, expected: str) -> None:
    project = make_repo(tmp_path)
    release(project, "1.2.0")
    result = version_json(capsys, project, "--bump", bump)
    assert result["next"] == expected
    assert result["bump"] == bump


def test_detached_head_takes_the_branch_from_ci(tmp_path, capsys, monkeypatch) -> None:
    project = make_repo(tmp_path, config="version:\n  prerelease_branches: ['release/*']\n")
    release(project, "1.2.0")
    commit(project, "feat: x")
    git(project, "checkout", "-q", "--detach", "HEAD")

    assert version_json(capsys, project, "--print")["next"] == "1.3.0"

    monkeypatch.setenv("CI_COMMIT_REF_NAME", "release/1.3")
    result = version_json(capsys, project, "--print")
    assert result["branch"] == "release/1.3"
    assert result["next"] == "1.3.0-rc.1"


def test_prerelease_branch_counts_up_and_main_finalizes(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, config="version:\n  prerelease_branches: ['release/*']\n")
    release(project, "1.2.0")
    git(project, "checkout", "-q", "-b", "release/1.3")
    commit(project, "feat: x")

    first = version_json(capsys, project, "--print")
    assert first["next"] == "1.3.0-rc.1"
    head = git(project, "rev-parse", "HEAD")[:7]
    # A prerelease moves nothing: no 1.3, 1 or latest.
    assert first["tags"] == ["1.3.0-rc.1", f"sha-{head}"]
    assert set(first["held_tags"]) == {"1.3", "1", "latest"}
    release(project, "1.3.0-rc.1")

    no_change = version_json(capsys, project, "--print")
    assert no_change["release"] is False

    commit(project, "fix: y")
    assert version_json(capsys, project, "--print")["next"] == "1.3.0-rc.2"
    release(project, "1.3.0-rc.2")
    commit(project, "feat!: z")
    assert version_json(capsys, project, "--print")["next"] == "2.0.0-rc.1"

    git(project, "checkout", "-q", "main")
    git(project, "merge", "-q", "--no-ff", "-m", "Merge release/1.3", "release/1.3~1")
    merged = version_json(capsys, project, "--print")
    assert merged["next"] == "1.3.0"
    assert merged["last_tag"] == "v1.2.0"


def test_prerelease_bump_on_any_branch(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    release(project, "1.2.0")
    git(project, "checkout", "-q", "-b", "try")
    commit(project, "fix: tried on another branch")
    release(project, "1.2.1-rc.1")
    git(project, "checkout", "-q", "main")
    # N counts every tag of 1.2.1, reachable or not: two rc.1 would be two different images.
    assert version_json(capsys, project, "--bump", "prerelease")["next"] == "1.2.1-rc.2"


def test_backport_moves_its_own_line_only(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, "1.4.2")
    release(project, "1.4.2")
    git(project, "branch", "support/1.4")
    commit(project, "feat!: the 2.0 line")
    release(project, "2.0.0")
    git(project, "checkout", "-q", "support/1.4")
    commit(project, "fix: backported")

    result = version_json(capsys, project, "--print")

    assert result["next"] == "1.4.3"
    head = git(project, "rev-parse", "HEAD")[:7]
    assert result["tags"] == ["1.4.3", f"sha-{head}", "1.4", "1"]
    assert result["held_tags"] == {"latest": "2.0.0 is newer"}


def test_image_tag_rules() -> None:
    released = [Version.parse(v) for v in ("1.4.2", "1.5.0", "2.0.0", "2.1.0-rc.1")]

    backport = image_tags(TEMPLATES, Version.parse("1.4.3"), "abc1234", released)
    assert backport.all == ["1.4.3", "sha-abc1234", "1.4"]
    assert backport.held == {"1": "1.5.0 is newer", "latest": "2.0.0 is newer"}

    newest = image_tags(TEMPLATES, Version.parse("2.0.1"), "abc1234", released)
    assert newest.moving == ["2.0", "2", "latest"]  # a prerelease of 2.1 does not hold them

    again = image_tags(TEMPLATES, Version.parse("2.0.0"), "abc1234", released)
    assert again.moving == ["2.0", "2", "latest"]  # re-running a release is no backport

    built = image_tags(TEMPLATES, Version.parse("2.2.0+build.7"), "abc1234", released)
    assert built.fixed == ["2.2.0_build.7", "sha-abc1234"]


def test_build_metadata_becomes_a_legal_tag(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, "1.2.3+build.5")
    assert version_json(capsys, project)["tags"][0] == "1.2.3_build.5"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        # Checked with a sample version when the configuration loads, before git is read.
        ("model {version}", "gives 'model 1.2.3', not a valid Docker tag"),
        ("-{version}", "not a valid Docker tag"),
        ("{version}-{flavour}", "unknown placeholder {flavour}"),
    ],
)
def test_bad_image_tag_template(tmp_path, capsys, template: str, message: str) -> None:
    project = make_repo(tmp_path, config=f"version:\n  image_tags: ['{template}']\n")
    err = version_error(capsys, project)
    assert "version.image_tags" in err and message in err


def test_version_lower_than_the_latest_tag(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    release(project, "1.3.0")
    (project / "VERSION").write_text("1.2.0\n")
    commit_all(project, "chore: someone edited VERSION")
    err = version_error(capsys, project, "--bump", "minor")
    assert f"{project / 'VERSION'}: 1.2.0 is lower than the latest release tag v1.3.0" in err


def test_version_released_on_another_branch(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    release(project, "1.2.0")
    git(project, "checkout", "-q", "-b", "elsewhere")
    commit(project, "feat: x")
    release(project, "1.3.0")
    git(project, "checkout", "-q", "main")
    err = version_error(capsys, project, "--bump", "minor")
    assert "version 1.3.0 is released already (tag v1.3.0, on another branch" in err


def test_dirty_tree_is_refused_when_configured(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, config="version:\n  refuse_dirty: true\n")
    (project / "VERSION").write_text("1.2.0\n\n")  # the file this step writes is no reason
    (project / "notes.txt").write_text("untracked files do not count\n")
    version_json(capsys, project, "--print")

    (project / "app.py").write_text("print('changed')\n")
    err = version_error(capsys, project)
    assert "uncommitted changes to app.py" in err
    assert "version.refuse_dirty" in err


def test_missing_version_file_means_a_first_release_of_0_1_0(tmp_path, capsys) -> None:
    # Issue 14, stumble 3: `release` stopped at build with "VERSION: no such file".
    project = make_repo(tmp_path, version=None)
    result = version_json(capsys, project, "--print")
    assert (result["current"], result["next"]) == ("0.1.0", "0.1.0")
    assert "no VERSION and no release tag" in result["reason"]
    assert not (project / "VERSION").exists()


def test_missing_version_file_counts_from_the_latest_tag(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, version=None)
    git(project, "tag", "-a", "v0.4.0", "-m", "Release 0.4.0")
    commit(project, "fix: x")
    assert version_json(capsys, project, "--print")["next"] == "0.4.1"


def test_build_push_and_version_share_the_current_version(tmp_path) -> None:
    from pipeline.imagebuild.run import read_inputs
    from pipeline.versioning import read_current

    project = make_repo(tmp_path, version=None)
    (project / "Dockerfile").write_text("FROM python:3.11-slim\n")
    config = load_config(project)
    # `build` used to label such a project 0.0.0 while `version` refused it.
    assert read_inputs(config).version == str(read_current(config)) == "0.1.0"


def test_version_file_that_is_not_semver(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, "1.2")
    err = version_error(capsys, project)
    assert f"{project / 'VERSION'}: '1.2' is not a semantic version" in err


def test_leading_v_in_version_file(tmp_path, capsys) -> None:
    project = make_repo(tmp_path, "v1.2.0")
    release(project, "1.2.0")
    (project / "VERSION").write_text("v1.2.0\n")
    commit(project, "fix: x")
    assert version_json(capsys, project, "--print")["next"] == "1.2.1"


def test_commits_outside_the_project_directory_do_not_count(tmp_path, capsys) -> None:
    monorepo = tmp_path / "mono"
    project = monorepo / "models" / "churn"
    project.mkdir(parents=True)
    (project / "VERSION").write_text("1.0.0\n")
    (project / "pipeline.yaml").write_text("version:\n  tag_prefix: churn-v\n")
    git(monorepo, "init", "-q", "-b", "main")
    commit_all(monorepo, "chore: initial")
    git(monorepo, "tag", "-a", "churn-v1.0.0", "-m", "r")
    git(monorepo, "tag", "-a", "v9.0.0", "-m", "another project's tag scheme")
    (monorepo / "other.txt").write_text("x\n")
    commit_all(monorepo, "feat: another model")
    assert version_json(capsys, project)["release"] is False

    (project / "serve.py").write_text("x\n")
    commit_all(monorepo, "fix: churn serving")
    assert version_json(capsys, project, "--print")["next"] == "1.0.1"


def shallow_clone(tmp_path: Path) -> tuple[Path, Path]:
    source = make_repo(tmp_path)
    commit(source, "feat: old")
    release(source, "1.2.0")
    commit(source, "fix: new")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{source}", str(clone))
    assert (clone / ".git" / "shallow").exists()
    assert git(clone, "tag") == ""  # what CI's default checkout leaves
    return source, clone


def test_shallow_clone_is_deepened(tmp_path, capsys) -> None:
    _, clone = shallow_clone(tmp_path)
    result = version_json(capsys, clone, "--print")
    assert result["next"] == "1.2.1"
    assert result["last_tag"] == "v1.2.0"
    assert not (clone / ".git" / "shallow").exists()


def test_shallow_clone_that_cannot_be_deepened(tmp_path, capsys) -> None:
    _, clone = shallow_clone(tmp_path)
    git(clone, "remote", "set-url", "origin", f"file://{tmp_path}/gone")
    err = version_error(capsys, clone)
    assert "a shallow clone, and `git fetch --unshallow --tags origin` failed" in err
    assert "fetch-depth: 0" in err and 'GIT_DEPTH: "0"' in err

    git(clone, "remote", "remove", "origin")
    err = version_error(capsys, clone)
    assert "a shallow clone without a remote" in err


def test_not_a_git_repository(tmp_path, capsys) -> None:
    (tmp_path / "VERSION").write_text("1.0.0\n")
    err = version_error(capsys, tmp_path)
    assert "not in a git repository with a commit" in err


def test_tag_release_commits_version_tags_and_pushes(tmp_path, capsys) -> None:
    source = make_repo(tmp_path)
    release(source, "1.2.0")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    commit(work, "feat: x")
    git(work, "push", "-q", "origin", "main")
    version_json(capsys, work)  # writes VERSION 1.3.0, as the release's version step does
    config = load_config(work)

    tagged = tag_release(config, "1.3.0", push=True)

    assert tagged.name == "v1.3.0" and tagged.committed and tagged.pushed
    assert git(work, "status", "--porcelain") == ""
    assert git(remote, "rev-parse", "v1.3.0^{commit}") == tagged.sha
    assert git(remote, "rev-parse", "main") == tagged.sha
    assert git(remote, "show", "main:VERSION") == "1.3.0"
    assert git(work, "log", "-1", "--format=%s") == "chore(release): 1.3.0 [skip ci]"

    again = tag_release(config, "1.3.0", push=True)  # a re-run changes nothing
    assert (again.sha, again.committed) == (tagged.sha, False)

    commit(work, "fix: later")
    assert version_json(capsys, work, "--print")["next"] == "1.3.1"
    with pytest.raises(UserError, match=r"tag v1.3.0 exists already, on"):
        tag_release(config, "1.3.0", push=False)


def test_the_release_that_pushes_second_is_told_it_lost_the_race(tmp_path, monkeypatch) -> None:
    """Two releases of the same commit at once: the second push is rejected, and it says so
    (not a want of push rights or of a git identity)."""
    source = make_repo(tmp_path)
    release(source, "1.2.0")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(remote))
    clones = []
    for name in ("first", "second"):
        work = tmp_path / name
        git(tmp_path, "clone", "-q", str(remote), str(work))
        (work / "VERSION").write_text("1.3.0\n")
        clones.append(work)
    tag_release(load_config(clones[0]), "1.3.0", push=True)
    pushed = git(remote, "rev-parse", "main")
    # Its own release commit: made at another moment.
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2030-01-01T00:00:00Z")

    with pytest.raises(UserError) as lost:
        tag_release(load_config(clones[1]), "1.3.0", push=True)

    message = str(lost.value)
    assert "HEAD -> main (fetch first): another release (or a push) reached origin first" in (
        message
    )
    assert "git pull --rebase --tags) and re-run the release" in message
    assert "push rights" not in message and "identity" not in message
    assert git(remote, "rev-parse", "main") == pushed
    assert git(remote, "rev-parse", "v1.3.0^{commit}") == pushed


def test_tag_push_failure_hides_the_remote_token(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    git(project, "remote", "add", "origin", "https://ci:glpat-SECRET@127.0.0.1:9/group/p.git")
    (project / "VERSION").write_text("1.2.1\n")
    with pytest.raises(UserError, match="failed") as failure:
        tag_release(load_config(project), "1.2.1", push=True)
    message = str(failure.value)
    assert "glpat-SECRET" not in message
    assert "the images are out, the tag is not" in message
    assert git(project, "tag") == "v1.2.1"  # made locally; the re-run pushes it


def test_text_output(tmp_path, capsys) -> None:
    project = make_repo(tmp_path)
    release(project, "1.2.0")
    feat = commit(project, "feat: x")
    assert main(["version", "-C", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "1.2.0 -> 1.3.0",
        "reason: minor: 1 commit since v1.2.0",
        f"  {feat[:7]} feat: x",
    ]
    assert lines[3] == f"image tags: 1.3.0, sha-{feat[:7]}, 1.3, 1, latest"
    assert lines[4] == f"wrote {project / 'VERSION'}"


def test_version_writes_a_missing_version_file(tmp_path, capsys) -> None:
    # Issue 25: without VERSION it printed `0.1.0 -> 0.1.0` and wrote nothing, though its help
    # says it writes VERSION.
    project = make_repo(tmp_path, version=None)
    code = main(["version", "-C", str(project)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "0.1.0 -> 0.1.0"
    assert out.splitlines()[-1] == f"wrote {project / 'VERSION'}"
    assert (project / "VERSION").read_text() == "0.1.0\n"
    # Written once: a second run finds it and has nothing new to write.
    assert version_json(capsys, project)["written"] is None


def test_version_help_says_when_it_writes(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["version", "--help"])
    assert "also when the file is missing" in " ".join(capsys.readouterr().out.split())


def test_bump_none_refuses_a_version_tagged_on_another_commit(tmp_path, capsys) -> None:
    # Issue 25: `--bump none` let the release push X.Y.Z, X.Y, X and latest, then the tag step
    # failed on the existing tag, and every re-run failed the same way.
    project = make_repo(tmp_path)
    release(project, "1.2.0")
    tagged = git(project, "rev-parse", "HEAD")
    assert version_json(capsys, project, "--bump", "none")["next"] == "1.2.0"  # a re-run: fine
    head = commit(project, "fix: x")
    err = version_error(capsys, project, "--bump", "none")
    assert err == (
        f"error: version 1.2.0 is released already: tag v1.2.0 is on {tagged[:7]}, not on HEAD "
        f"{head[:7]}; version.bump none releases VERSION as it is, so set VERSION to a new "
        "version or choose another --bump\n"
    )


def monorepo_clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Models a/ and b/ (tags a-v*, b-v*) in one repository with a bare origin, cloned twice:
    two release jobs of one pipeline, each with its own checkout of the same commit."""
    source = tmp_path / "source"
    for model in ("a", "b"):
        (source / model).mkdir(parents=True)
        (source / model / "VERSION").write_text("1.0.0\n")
        (source / model / "pipeline.yaml").write_text(f"version:\n  tag_prefix: {model}-v\n")
        (source / model / "app.py").write_text("print('hello')\n")
    git(source, "init", "-q", "-b", "main")
    commit_all(source, "feat: two models")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(remote))
    first, second = tmp_path / "job-a", tmp_path / "job-b"
    for work in (first, second):
        git(tmp_path, "clone", "-q", str(remote), str(work))
    return remote, first, second


def test_parallel_monorepo_releases_both_push_their_version_commits(tmp_path) -> None:
    # Issue 23: the second job's push was rejected (the first had moved main), and its release
    # stopped after its images were out.
    remote, first, second = monorepo_clones(tmp_path)
    built = git(second, "rev-parse", "HEAD")
    for work, model in ((first, "a"), (second, "b")):
        (work / model / "VERSION").write_text("1.0.1\n")  # the version steps, side by side

    a = tag_release(load_config(first / "a"), "1.0.1")
    b = tag_release(load_config(second / "b"), "1.0.1")

    assert (a.onto, b.onto) == (None, a.sha)
    assert git(remote, "rev-parse", "main") == b.sha == git(second, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "b-v1.0.1^{commit}") == b.sha
    assert git(remote, "rev-parse", "a-v1.0.1^{commit}") == a.sha
    assert git(remote, "rev-parse", f"{b.sha}^") == a.sha
    assert git(remote, "show", "main:a/VERSION") == git(remote, "show", "main:b/VERSION") == "1.0.1"
    assert git(second, "status", "--porcelain") == ""  # the checkout moved with it
    assert git(second, "log", "-1", "--format=%s") == "chore(release): 1.0.1 [skip ci]"
    # A re-run of b's release on the moved checkout goes on with the saved state of `built`.
    assert carried_release(load_config(second / "b"), git_repo(second), built, "1.0.1")


def test_a_moved_branch_that_changes_the_project_is_not_released_over(tmp_path) -> None:
    remote, first, second = monorepo_clones(tmp_path)
    (first / "b" / "app.py").write_text("print('changed')\n")
    commit_all(first, "fix: b changed meanwhile")
    git(first, "push", "-q", "origin", "main")
    (second / "b" / "VERSION").write_text("1.0.1\n")

    with pytest.raises(UserError) as failure:
        tag_release(load_config(second / "b"), "1.0.1")

    assert str(failure.value).startswith(
        "branch main moved on origin during the release and its new commits change the project "
        "(b/app.py), which the released image was built without; the images of 1.0.1 are out, "
        "its tag is not: release the branch's new head as a higher version than 1.0.1"
    )
    assert git(remote, "tag") == ""


def test_a_release_commit_rebased_by_the_user_is_tagged_and_pushed(tmp_path) -> None:
    # Issue 25: the tag step's push was rejected, the user ran `git pull --rebase`; the tag left
    # on the old release commit made every re-run fail ("exists already, on another commit").
    remote, first, second = monorepo_clones(tmp_path)
    (second / "b" / "VERSION").write_text("1.0.1\n")
    config = load_config(second / "b")
    stranded = tag_release(config, "1.0.1", push=False)  # as before the rejected push
    commit(first, "docs: elsewhere")
    git(first, "push", "-q", "origin", "main")
    git(second, "pull", "-q", "--rebase", "origin", "main")

    released = tag_release(config, "1.0.1")

    assert released.sha != stranded.sha
    assert git(remote, "rev-parse", "b-v1.0.1^{commit}") == released.sha
    assert git(remote, "rev-parse", "main") == released.sha
