"""The release as a sequence of step functions, any of which can stop it (the nox way).

Each step reads and extends the release state, which is saved after every step: a re-run of
the same commit skips what is done, so a push killed half-way completes without a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.schema import Config
from pipeline.console.output import Output
from pipeline.console.progress import StepProgress
from pipeline.core.errors import PipelineError, UserError
from pipeline.project.gitinfo import GitInfo, git_info, open_repo
from pipeline.release import steps
from pipeline.release.preflight import Check, preflight, raise_if_failed
from pipeline.release.state import ReleaseState, load_state, save_state
from pipeline.versioning.release_tag import RELEASE_COMMIT_PREFIX, carried_release

STEPS: dict[str, Callable[[steps.ReleaseRun], None]] = {
    "split": steps.check_split,
    "lint": steps.lint,
    "build": steps.build,
    "smoke": steps.smoke,
    "version": steps.version,
    "sign": steps.sign,
    "push": steps.push,
    "tag": steps.tag,
}


@dataclass(frozen=True)
class ReleaseOptions:
    only: str | None = None
    from_step: str | None = None
    to_step: str | None = None
    candidate: str | None = None
    restart: bool = False
    dotenv: Path | None = None  # where GitLab's dotenv report goes, checked in the preflight


STEP_NAMES = list(STEPS)


def selected_steps(options: ReleaseOptions) -> list[str]:
    names = STEP_NAMES
    if options.only:
        if options.to_step:
            raise UserError("release: --only runs one step; --to goes with --from")
        return [options.only]
    start = names.index(options.from_step) if options.from_step else 0
    end = names.index(options.to_step) + 1 if options.to_step else len(names)
    if start >= end:
        raise UserError(f"release: --from {options.from_step} comes after --to {options.to_step}")
    return names[start:end]


def _git(config: Config) -> GitInfo:
    return git_info(config.project_dir, "a release is of a commit (git init && git commit)")


def _release_base(config: Config, git: GitInfo) -> str:
    """The commit a release is of: the tag step's own VERSION commit belongs to its parent."""
    head = open_repo(config.project_dir, "a release is of a commit").head.commit
    if str(head.message).startswith(RELEASE_COMMIT_PREFIX) and head.parents:
        return head.parents[0].hexsha
    return git.sha


def _carried(config: Config) -> Callable[[ReleaseState], bool]:
    """Whether HEAD is the release commit of a saved release, moved onto a remote branch that
    moved (by the tag step, or by the user's `git pull --rebase`): that release goes on."""
    repo = open_repo(config.project_dir, "a release is of a commit")
    return lambda state: (
        bool(state.version) and carried_release(config, repo, state.commit, str(state.version))
    )


def _prepare(
    config: Config, out: Output, options: ReleaseOptions
) -> tuple[steps.ReleaseRun | None, list[str], list[Check]]:
    """The run (None when a preflight check failed), its steps to do and the preflight."""
    git = _git(config)
    base = _release_base(config, git)
    if options.restart:
        state = ReleaseState(commit=base)
    else:
        state = load_state(config.project_dir, base, out.warn, _carried(config))
    if options.candidate and options.candidate != state.candidate:
        # Another image: what was checked of the old one (smoke test onwards) says nothing of it.
        state.candidate = options.candidate
        state.done = [
            step for step in state.done if step in STEP_NAMES[: STEP_NAMES.index("smoke")]
        ]
    # Steps named by --only/--from run again; a plain re-run skips what this commit finished.
    rerun = bool(options.only or options.from_step)
    todo = [name for name in selected_steps(options) if rerun or name not in state.done]
    checks, plan = preflight(config, state, git, todo, options.dotenv)
    smokes_here = "smoke" in todo and config.smoke.enabled
    run = steps.ReleaseRun(config, out, state, plan, smokes_here) if plan else None
    return run, todo, checks


def plan_release(
    config: Config, out: Output, options: ReleaseOptions
) -> tuple[dict[str, object], list[Check]]:
    """What `run_release` would do, and its preflight: nothing is built, pushed or written
    (git may be deepened; the registry gets an upload opened and cancelled)."""
    run, todo, checks = _prepare(config, out, options)
    if run:
        return run.plan.describe(todo), checks
    # What failed is the preflight's to say; the plan would only fail on it again.
    return {"steps": todo}, checks


def run_release(config: Config, out: Output, options: ReleaseOptions) -> ReleaseState:
    # Before the first step: whatever can be known to fail later fails now, with nothing done.
    run, todo, checks = _prepare(config, out, options)
    raise_if_failed(checks)
    assert run is not None  # the preflight passed
    if checks:
        out.note("preflight: " + ", ".join(f"{check.name} ok" for check in checks))
    for check in checks:
        out.debug(f"preflight: {check.line()}")
    state = run.state
    git = run.plan.source
    if not todo:
        out.note(f"release: every step of {git.short_sha} is done already; --restart to redo")
    with StepProgress(out, todo) as progress:
        for name in todo:
            if name in steps.RELEASING_STEPS and state.no_release_reason:
                progress.finish(name, "skipped", f"no release: {state.no_release_reason}")
                continue
            progress.start(name)
            try:
                STEPS[name](run)
            except PipelineError as exc:
                progress.finish(name, "failed")
                save_state(config.project_dir, state)
                # Same exception, so the same exit code; only the message says where to resume.
                exc.args = (
                    f"release stopped at {name}: {exc}\n"
                    f"fix it, then `python -m pipeline release` continues from {name}",
                )
                raise
            state.mark_done(name, progress.finish(name, "done"))
            save_state(config.project_dir, state)
    return state
