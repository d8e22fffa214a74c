"""Everything a release can know before its first push, checked before its first step.

Each check is a small function of what the release is about to do; it returns a `Check` (passed
or not, with what it found or what to fix), or None when no step to do needs it. `release` runs
them all first and stops (exit 1) when one fails: nothing is built, pushed, tagged or written.
`release --dry-run` reports them. A check that passed can only fail later when something changed
meanwhile (a remote branch moved, a password was rotated), and a re-run finishes the release.

What the checks find is the release's plan (`ReleasePlan`): the registry target resolved, the git
history read and the version decided once, here, and carried to the steps, which decide nothing
again.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config.checks import repository_path_problem
from pipeline.config.schema import Config
from pipeline.core.errors import PipelineError, UserError
from pipeline.distribution.reference import ImageRef
from pipeline.project.gitinfo import GitInfo, open_repo, without_credentials
from pipeline.project.worktree import first_few, read_build_context
from pipeline.release.outputs import CI_OUTPUTS
from pipeline.release.state import ReleaseState, state_path
from pipeline.versioning.image_tags import candidate

if TYPE_CHECKING:
    import git

    from pipeline.registries import Target
    from pipeline.signing.keys import Signer
    from pipeline.versioning import History, VersionDecision
    from pipeline.versioning.release_tag import TagPush

# The CI variables and values of a pipeline run for a merge request (a pull request).
REVIEW_EVENTS = {
    "CI_PIPELINE_SOURCE": ("merge_request_event", "external_pull_request_event"),
    "GITHUB_EVENT_NAME": ("pull_request", "pull_request_target"),
}
# Git settles credentials by asking; in a job nobody answers, so a missing one must fail.
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found; for a failure, also what to do

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAILED':<6}  {self.name}: {self.detail}"


@dataclass(frozen=True)
class ReleasePlan:
    """What a release decided before its first step, for the steps to carry out.

    Each part is there when a step to do needs it: the target for build, smoke and push; the
    history for the version decision and the push's moving tags; the decision for build (the
    image's version label) and the version step.
    """

    source: GitInfo  # the commit released
    target: Target | None
    history: History | None
    decision: VersionDecision | None  # None: not to be decided again (the state has it)
    version: str | None  # the version released: decided now, else the state's
    tags: list[str]
    candidate: ImageRef | None  # the state's (an earlier build, --candidate), else build's name
    signer: Signer | None = None  # None: no signing (sign.key unset, or no sign step to do)

    def describe(self, todo: list[str]) -> dict[str, object]:
        """What the release would do (`release --dry-run`)."""
        return {
            "steps": todo,
            "registry": self.target.kind if self.target else None,
            "repository": str(self.target.repository) if self.target else None,
            "candidate": str(self.candidate) if self.candidate else None,
            "version": self.version,
            "reason": self.decision.reason if self.decision else None,
            "tags": self.tags,
            "signer": self.signer.describe() if self.signer else None,
        }


@dataclass
class Facts:
    """What the checks learn for the next ones, and in the end for the plan."""

    config: Config
    state: ReleaseState
    source: GitInfo
    todo: list[str]
    dotenv: Path | None = None  # release --dotenv
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    version: str | None = None  # the version this release writes, once known
    target: Target | None = None  # the registry, once it accepted a push
    decision: VersionDecision | None = None
    read: History | None = None
    signer: Signer | None = None

    def doing(self, *steps: str) -> bool:
        return any(step in self.todo for step in steps)

    def history(self) -> History:
        """The git history, read at most once."""
        from pipeline.versioning import read_history

        if self.read is None:
            self.read = read_history(self.config, self.environ)
        return self.read

    def plan(self) -> ReleasePlan:
        from pipeline.registries import resolve_target

        state = self.state
        target = self.target
        if target is None and self.doing("build", "smoke", "sign", "push"):
            target = resolve_target(self.config)
        decision = self.decision
        if decision:
            version = str(decision.version) if decision.version else None
        else:
            version = None if state.no_release_reason else state.version
        if state.candidate:
            image: ImageRef | None = ImageRef.parse(state.candidate)
        else:
            image = candidate(target.staging, self.source) if target else None
        return ReleasePlan(
            source=self.source,
            target=target,
            history=self.history() if self.doing("push") else self.read,
            decision=decision,
            version=version,
            tags=decision.tags if decision else state.tags,
            candidate=image,
            signer=self.signer,
        )


def build_context(facts: Facts) -> Check | None:
    """A release is of a commit: its image is built from exactly that (no build.allow_dirty)."""
    if not facts.doing("build"):
        return None
    changed = read_build_context(facts.config, "a release is of a commit").changes or ()
    short = facts.source.short_sha
    if changed:
        return Check(
            "build context",
            False,
            f"differs from commit {short} ({len(changed)} file(s): {first_few(changed)}); a "
            "release builds exactly its commit: commit or stash them (or .dockerignore them)",
        )
    return Check("build context", True, f"exactly commit {short}")


NO_CANDIDATE = (
    "no candidate image: run the build step first, or name the image built by an earlier job "
    "with --candidate REPOSITORY@sha256:..."
)


def built_image(facts: Facts) -> Check | None:
    """Smoke and push without the build step need the image an earlier run built or named."""
    if facts.doing("build") or not facts.doing("smoke", "push"):
        return None
    if not facts.state.candidate:
        return Check("candidate", False, NO_CANDIDATE)
    return Check("candidate", True, facts.state.candidate)


def image_name(facts: Facts) -> Check | None:
    """The one configuration value not checked on loading: a name taken from the directory."""
    if not facts.doing("build", "push"):
        return None
    config = facts.config
    problem = None if config.image.name else repository_path_problem(config.image_name)
    if problem:
        return Check("image name", False, f"{problem} (taken from the directory; set image.name)")
    return Check("image name", True, config.image_name)


def smoke_samples(facts: Facts) -> Check | None:
    """The samples the smoke test sends are there and read: not found missing after a push."""
    config = facts.config
    if not (facts.doing("smoke") and config.smoke.enabled):
        return None
    from pipeline.smoke.samples import load_samples

    try:
        samples = load_samples(config.path(config.smoke.samples_dir))
    except UserError as exc:
        return Check("smoke samples", False, f"{exc} (docs/smoke-samples.md)")
    return Check("smoke samples", True, f"{len(samples)} in {config.smoke.samples_dir}/")


def ci_event(facts: Facts) -> Check | None:
    """No release from a merge request's pipeline: it runs unmerged code (GitLab's merged-result
    commit, GitHub's refs/pull/N/merge) whose version, `latest` and release commit would go out
    as if merged. Outside one there is nothing to report."""
    if not facts.doing("push", "tag"):
        return None
    found = next(
        (
            f"{name}={facts.environ[name]}"
            for name, events in REVIEW_EVENTS.items()
            if facts.environ.get(name) in events
        ),
        None,
    )
    if found is None:
        return None
    return Check(
        "ci event",
        False,
        f"{found}: a merge request's pipeline runs unmerged code, and a release of it would "
        "push a version, latest and a release commit as if it were merged; build and smoke "
        "test it here (release --to smoke), and release from the branch's pipeline after the "
        "merge",
    )


def output_files(facts: Facts) -> Check | None:
    """The files the release writes besides the registry and git can be written: a release
    that pushed and tagged must not end in a traceback over its state or its CI outputs."""
    if not facts.doing("build", "push", "tag"):
        return None
    files = {"release state": state_path(facts.config.project_dir)}
    files |= {name: Path(facts.environ[name]) for name in CI_OUTPUTS if facts.environ.get(name)}
    if facts.dotenv:
        files["--dotenv"] = facts.dotenv
    problems = [
        f"{name} {path}: {problem}" for name, path in files.items() if (problem := unwritable(path))
    ]
    if problems:
        return Check("output files", False, "; ".join(problems))
    return Check("output files", True, f"{', '.join(files)} writable")


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written (or created) at `path`; None when it can."""
    if path.is_dir():
        return "is a directory; remove it or name a file"
    existing = next(parent for parent in (path, *path.parents) if parent.exists())
    if existing != path and not existing.is_dir():
        return f"{existing} is a file, where a directory must be; remove it or name another path"
    if not os.access(existing, os.W_OK):
        return f"{existing} is not writable"
    return None


def health_route(facts: Facts) -> Check | None:
    """The app declares the GET route the smoke test waits for (smoke.health), where its source
    says."""
    config = facts.config
    if not (facts.doing("smoke") and config.smoke.enabled):
        return None
    from pipeline.project.buildcontext import read_context
    from pipeline.smoke.routes import app_routes

    context = config.path(config.project.context)
    if not context.is_dir():
        return None  # the build context check and the build say so
    build = read_context(config.path(config.project.dockerfile), context)
    path = config.smoke.health
    routes = app_routes(build.context, build.files, path)
    if routes.health:
        return Check("health route", True, f"{path} named in {routes.health}")
    if not routes.declared:
        return None  # the source shows no route: the smoke test finds out
    return Check(
        "health route",
        False,
        f"the app declares {first_few(list(routes.declared))} but no {path}, which the smoke "
        f"test waits for (GET {path} answering 200 once the model is loaded); add one, e.g. "
        f'@app.get("{path}"), or set smoke.health to the route the app has',
    )


def version(facts: Facts) -> Check | None:
    """The version and tags the version step will decide, and whether they may be released."""
    from pipeline.versioning import decide_version

    state = facts.state
    if not facts.doing("version"):
        facts.version = None if state.no_release_reason else state.version
        if "version" in state.done or not facts.doing("build"):
            return None
        # Only for the build's label, which names the version being released.
    try:
        decision = decide_version(facts.config, facts.history())
    except PipelineError as exc:
        return Check("version", False, str(exc))
    facts.decision = decision
    if not facts.doing("version"):
        return None
    facts.version = str(decision.version) if decision.version else None
    if not facts.doing("push", "tag"):
        return None
    if decision.version is None:
        return Check("version", True, f"no release ({decision.reason}): push and tag skip")
    return Check("version", True, f"{decision.version} ({decision.reason})")


def registry(facts: Facts) -> Check | None:
    """Our credentials may push there: seconds after the start, not after a cold build."""
    if not (facts.doing("build") or (facts.doing("push") and facts.version)):
        return None
    from pipeline.registries import resolve_target

    try:
        target = resolve_target(facts.config)
        target.api().check_push(target.repository.path)
    except PipelineError as exc:
        return Check("registry", False, str(exc))
    facts.target = target
    who = f"as {target.credentials.username}" if target.credentials else "anonymously"
    return Check("registry", True, f"{target.repository} accepts a push {who}")


def image_tags(facts: Facts) -> Check | None:
    """No released version is overwritten: a fixed tag may only hold this commit's image."""
    if not (facts.doing("push") and facts.version and facts.target):
        return None
    from pipeline.promotion.promote import release_tags
    from pipeline.versioning.versions import parse_version

    target, state = facts.target, facts.state
    api, path = target.api(), target.repository.path
    if facts.doing("build"):
        # Same commit, same digest: the build makes what an earlier run of it pushed.
        staging = target.staging
        ours = api.digest(staging.path, candidate(staging, facts.source).tag or "")
    elif state.candidate and (image := ImageRef.parse(state.candidate)).host == (
        target.repository.host
    ):
        ours = image.digest  # a digest is the same image in every repository of the registry
    else:
        return None  # a candidate from elsewhere: push compares it before writing anything
    parsed = parse_version(facts.version)
    assert parsed is not None  # decided or recorded by the version step
    tags = release_tags(facts.config, api, path, facts.history(), parsed)
    taken = [
        f"{tag} ({existing})"
        for tag in tags.fixed
        if (existing := api.digest(path, tag)) and existing != ours
    ]
    if taken:
        return Check(
            "image tags",
            False,
            f"{target.repository}: {', '.join(taken)} exist already, on another image: released "
            "versions are never overwritten; release a new version (--bump patch) or remove "
            "those tags on purpose",
        )
    return Check("image tags", True, f"writes {', '.join(tags.all)}")


def signing(facts: Facts) -> Check | None:
    """The configured key is read and decrypted now, by cosign: not found wrong after a push."""
    if not (facts.doing("sign") and facts.version):
        return None
    from pipeline.signing.keys import check_signer, signer
    from pipeline.signing.tools import check_tools

    try:
        found = signer(facts.config)
        if found is None:
            return None
        check_tools()
        detail = check_signer(found, facts.environ)
    except UserError as exc:
        return Check("signing", False, str(exc))
    facts.signer = found
    return Check("signing", True, f"signs with {detail}")


def git_push(facts: Facts) -> Check | None:
    """The tag step's push would be accepted: remote, branch (detached HEAD in CI), rights."""
    config = facts.config
    if not (facts.doing("tag") and facts.version and config.version.push_tag):
        return None
    from pipeline.versioning.release_tag import carry_problem, remote_branch_moved, tag_push

    repo = open_repo(config.project_dir, "the release tag goes to its remote")
    name = f"{config.version.tag_prefix}{facts.version}"
    try:
        where = tag_push(config, repo, name, facts.version, facts.environ)
    except UserError as exc:
        return Check("git push", False, str(exc))
    # Before the tag exists, HEAD stands in for it: the remote says whether it takes the name.
    local = any(tag.name == name for tag in repo.tags)
    source = f"refs/tags/{name}" if local else "HEAD"
    failure = _dry_run(repo, where, source)
    moved = remote_branch_moved(repo, where) if failure and where.branch else None
    if moved:
        problem = carry_problem(config, repo, facts.state.commit, moved)
        if problem:
            return Check(
                "git push",
                False,
                f"branch {where.branch} moved on {where.remote} and {problem}: its release "
                f"commit cannot go on top; release {where.branch}'s new head (git pull)",
            )
        # The tag step puts the release commit on top of the moved branch: the tag alone is
        # what the remote must take now.
        failure = _dry_run(repo, dataclasses.replace(where, branch=""), source)
    if failure:
        return Check(
            "git push",
            False,
            f"{failure}; the release tag could not be pushed after the images: fix the remote "
            "or give the job push rights (GitHub: permissions contents: write; GitLab: a token "
            "with write_repository), or set version.push_tag: false to keep the tag local",
        )
    goes = name + (f" and branch {where.branch}" if where.branch and not moved else "")
    if moved:
        goes += f" ({where.branch} moved there: the tag step puts the release commit on top)"
    return Check("git push", True, f"{where.remote} accepts {goes} (dry run)")


def _dry_run(repo: git.Repo, where: TagPush, source: str) -> str | None:
    """Why `git push --dry-run` of `where` fails, or None when the remote would take it."""
    import git

    refspecs = where.refspecs(source)
    try:
        repo.git.push("--dry-run", "--atomic", where.remote, *refspecs, env=NO_PROMPT)
    except git.GitCommandError as exc:
        return f"git push --dry-run {where.remote} {' '.join(refspecs)} failed: {_reason(exc)}"
    return None


def _reason(exc: git.GitCommandError) -> str:
    """Git's own verdict: a rejected ref, else its first fatal or error line."""
    # GitPython's text starts with "stderr: '" and ends with "'".
    text = str(exc.stderr).strip().removeprefix("stderr:")
    lines = [line.strip(" '") for line in text.splitlines() if line.strip(" '")]
    chosen = next(
        (line for line in lines if "[rejected]" in line or "[remote rejected]" in line),
        next((line for line in lines if line.startswith(("fatal:", "error:"))), None),
    )
    return without_credentials((chosen or f"exit status {exc.status}").lstrip("! "))


CHECKS: list[Callable[[Facts], Check | None]] = [
    ci_event,
    built_image,
    build_context,
    image_name,
    output_files,
    smoke_samples,
    health_route,
    version,
    registry,
    image_tags,
    signing,
    git_push,
]


def preflight(
    config: Config,
    state: ReleaseState,
    source: GitInfo,
    todo: list[str],
    dotenv: Path | None = None,
) -> tuple[list[Check], ReleasePlan | None]:
    """Every check the steps in `todo` need, in order (later ones use what earlier ones found),
    and the plan they make; None when a check failed. `dotenv`: release --dotenv's file."""
    facts = Facts(config, state, source, todo, dotenv)
    checks = [check for function in CHECKS if (check := function(facts)) is not None]
    return checks, facts.plan() if all(check.ok for check in checks) else None


def raise_if_failed(checks: list[Check]) -> None:
    failed = [check for check in checks if not check.ok]
    if not failed:
        return
    nothing = "nothing was built, pushed, tagged or written"
    if len(failed) == 1:
        raise UserError(f"release preflight: {failed[0].name}: {failed[0].detail}; {nothing}")
    lines = [f"  {check.name}: {check.detail}" for check in failed]
    header = f"release preflight: {len(failed)} checks failed; {nothing}:"
    raise UserError("\n".join([header, *lines]))
