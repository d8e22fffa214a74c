"""The ML-container rules: one small function each, and the table that names them.

A rule looks at a `Subject` and yields `Hit`s; the table gives each its ID and severity, and
the hadolint rules that say the same thing (their findings merge into ours). Every rule is
documented in RULES.md beside this file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pipeline.distribution.reference import ImageRef
from pipeline.lint import facts
from pipeline.lint.frameworks import (
    cache_size_note,
    cuda_mismatch,
    cuda_twice,
    reinstalled_framework,
)
from pipeline.lint.layering import mixed_requirements
from pipeline.lint.report import Severity
from pipeline.lint.subject import Hit, Subject
from pipeline.project.dockerfile import INSTRUCTIONS, Instruction, arg_declarations
from pipeline.project.installs import Install, cache_cleared, installs, run_commands, stage_runs
from pipeline.secrets.buildargs import secret_advice
from pipeline.secrets.detect import secret_key_name

_CUDA_DEVEL_REPOSITORIES = ("nvidia/cuda", "pytorch/pytorch", "tensorflow/tensorflow")
_ZERO_DURATION = re.compile(r"0+(\.0*)?[a-z]*")
# `latest`, and the variants images publish beside it (`latest-gpu`, `gpu-latest`)
_MOVING_TAG = re.compile(r"latest|latest-.+|.+-latest", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    check: Callable[[Subject], Iterator[Hit]]
    hadolint: tuple[str, ...] = ()  # hadolint rules that report the same problem


def unpinned_base(target: Subject) -> Iterator[Hit]:
    for stage in target.dockerfile.stages:
        if stage.parent is not None or not stage.reference:
            continue  # FROM an earlier stage is not an image; an empty FROM is hadolint's
        if stage.unresolved:
            names = ", ".join(stage.unresolved)
            yield Hit(
                stage.from_.line,
                f"base image {stage.reference} cannot be checked: ARG {names} has no default"
                " (nor an image.build_args value)",
                f"give ARG {stage.unresolved[0]} a pinned default, e.g. python:3.11.9-slim",
            )
            continue
        image = ImageRef.parse(stage.image)
        if stage.image.lower() == "scratch" or image.digest:
            continue
        if not image.tag or _MOVING_TAG.fullmatch(image.tag):
            how = f"the moving tag {image.tag}" if image.tag else "no tag (that means latest)"
            yield Hit(
                stage.from_.line,
                f"base image {stage.image} uses {how}",
                f"pin a version tag or digest, e.g. {image.repository}:<version>@sha256:<digest>",
            )


def root_user(target: Subject) -> Iterator[Hit]:
    users = facts.inherited(target.dockerfile, target.final, "USER")
    fix = "add RUN useradd --create-home --uid 10001 app and USER 10001 before CMD"
    if not users:
        yield Hit(target.final_from.line, "the final stage has no USER, so it runs as root", fix)
        return
    # `USER $UID` with `ARG UID=0`: the build's value decides; one without a value abstains.
    user = facts.expanded_operands(target.dockerfile, users[-1])
    if user.split(":")[0].strip() in ("root", "0"):
        written = users[-1].operands
        resolved = "" if user == written else f" ({user} with the ARG/ENV defaults)"
        yield Hit(users[-1].line, f"the final stage runs as USER {written}{resolved}", fix)


def python_buffered(target: Subject) -> Iterator[Hit]:
    if not facts.environment(target.dockerfile, target.final).get("PYTHONUNBUFFERED"):
        yield Hit(
            target.final_from.line,
            "PYTHONUNBUFFERED is not set in the final stage; logs arrive late or are lost",
            "add ENV PYTHONUNBUFFERED=1",
        )


@dataclass(frozen=True)
class _NoCache:
    """How an installer is told to keep its download cache out of the layer."""

    flags: tuple[str, ...]
    variable: str

    def applied(self, install: Install, env: dict[str, str]) -> bool:
        if self.variable in env or self.variable in install.command.env:
            return True
        argv = install.command.argv
        return any(w == f or w.startswith(f + "=") for w in argv for f in self.flags)


_NO_CACHE = {
    # pip takes any unambiguous prefix of a long option; uv accepts pip's spelling as an alias
    "pip": _NoCache(("--no-cache-dir", "--no-cache"), "PIP_NO_CACHE_DIR"),
    "uv": _NoCache(("--no-cache", "-n", "--no-cache-dir"), "UV_NO_CACHE"),
}


def install_cache(target: Subject) -> Iterator[Hit]:
    for stage in target.dockerfile.stages:
        for run in stage_runs(stage):
            if facts.cache_mounts(run):
                continue  # the cache lives in the mount, outside the layer
            env = facts.environment(target.dockerfile, stage, upto=run, build=True)
            for install in installs(run):
                policy = _NO_CACHE.get(install.tool)
                if (
                    policy
                    and not policy.applied(install, env)
                    and not cache_cleared(run, install.tool)
                ):
                    yield Hit(
                        run.line,
                        f"{install.tool} install without {policy.flags[0]}"
                        + cache_size_note(target, stage, run, install),
                        f"add {policy.flags[0]} (or ENV {policy.variable}=1)",
                    )


def code_before_install(target: Subject) -> Iterator[Hit]:
    for stage in target.dockerfile.stages:
        copies: list[tuple[Instruction, list[str]]] = []
        for instruction in stage.instructions:
            if instruction.keyword in ("COPY", "ADD"):
                sources = facts.context_sources(instruction)
                code = [s for s in sources if facts.is_app_code(s, target.context)]
                if code:
                    copies.append((instruction, code))
            elif instruction.keyword == "RUN" and any(
                install.resolves_dependencies and not install.installs_tools_only
                for install in installs(instruction)
            ):
                for copy, code in copies:
                    yield Hit(
                        copy.line,
                        f"{copy.keyword} {' '.join(code)} copies app code before the dependency"
                        f" install at line {instruction.line}; every code change reinstalls it",
                        "COPY only the requirement files first, install, then COPY the code",
                    )
                # With the dependencies in their own layer, installing the project itself after
                # its code (`pip install .`, a second `uv sync`) is the right order.
                break


def apt_lists_kept(target: Subject) -> Iterator[Hit]:
    for stage in target.dockerfile.stages:
        for run in stage_runs(stage):
            if not facts.apt_installs(run) or any(
                t.startswith("/var/lib/apt") for t in facts.cache_mounts(run)
            ):
                continue
            removed = any(
                command.program == "rm"
                and any(a.startswith("/var/lib/apt/lists") for a in command.argv)
                for command in run_commands(run)
            )
            if not removed:
                yield Hit(
                    run.line,
                    "apt-get install without rm -rf /var/lib/apt/lists/* in the same RUN",
                    "end the RUN with && rm -rf /var/lib/apt/lists/*",
                )


def apt_recommends(target: Subject) -> Iterator[Hit]:
    for stage in target.dockerfile.stages:
        for run in stage_runs(stage):
            for command in facts.apt_installs(run):
                if "--no-install-recommends" not in command.argv and not any(
                    re.fullmatch(r"APT::Install-Recommends=(false|0|no)", word, re.IGNORECASE)
                    for word in command.argv
                ):
                    yield Hit(
                        run.line,
                        "apt-get install without --no-install-recommends",
                        "add --no-install-recommends",
                    )


def missing_healthcheck(target: Subject) -> Iterator[Hit]:
    check = _healthcheck(target)
    if check is None:
        # Python's urllib, not curl: the slim Python images a model server starts from lack curl.
        yield Hit(
            target.final_from.line,
            "no HEALTHCHECK in the final stage; nothing tells a loading model from a hung one",
            'add HEALTHCHECK --start-period=120s CMD ["python", "-c", "import urllib.request; '
            "urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)\"]",
        )


def healthcheck_start_period(target: Subject) -> Iterator[Hit]:
    check = _healthcheck(target)
    if check and all(_ZERO_DURATION.fullmatch(p) for p in check.flag_values("start-period")):
        yield Hit(
            check.line,
            "HEALTHCHECK without --start-period: the container is unhealthy while the model loads",
            "add --start-period= longer than the model takes to load, e.g. --start-period=120s",
        )


def devel_image(target: Subject) -> Iterator[Hit]:
    root = target.dockerfile.lineage(target.final)[0]
    image = ImageRef.parse(root.image)
    if image.is_repository(*_CUDA_DEVEL_REPOSITORIES) and "devel" in (image.tag or "").split("-"):
        yield Hit(
            target.final_from.line,
            f"the final stage is built on {root.image}, a -devel image with the CUDA compilers",
            "build in a -devel stage and COPY --from it into a -runtime (or -base) final stage",
        )


def missing_dockerignore(target: Subject) -> Iterator[Hit]:
    if target.dockerignore is not None:
        return
    unused = target.path.parent / ".dockerignore"
    why = (
        f"; {unused.name} beside it is not read: the build context is elsewhere"
        if unused.is_file()
        else ""
    )
    yield Hit(
        None,
        f"no .dockerignore for the build context{why}: .git, data, checkpoints all get sent",
        "add a .dockerignore at the context root (or <Dockerfile>.dockerignore) excluding them",
    )


def secrets_in_context(target: Subject) -> Iterator[Hit]:
    """Nothing here: ML012 is the build's own secret scan (`pipeline.secrets`), which judges a
    file by what it holds as well as by its name, reported by lint/secrets.py, so that lint and
    build never disagree (a public CA certificate's `.pem` name is no secret)."""
    return iter(())


def unknown_instruction(target: Subject) -> Iterator[Hit]:
    for instruction in target.dockerfile.instructions:
        if instruction.keyword not in INSTRUCTIONS:
            close = difflib.get_close_matches(instruction.keyword, INSTRUCTIONS, n=1)
            yield Hit(
                instruction.line,
                f"unknown instruction {instruction.keyword}: the build fails here",
                f"write {close[0]}" if close else "use a Dockerfile instruction (FROM, RUN, ...)",
            )


def secret_build_arg(target: Subject) -> Iterator[Hit]:
    for instruction in target.dockerfile.instructions:
        if instruction.keyword != "ARG":
            continue
        for name in arg_declarations(instruction):
            if secret_key_name(name):
                yield Hit(
                    instruction.line,
                    f"build argument {name} is named like a secret: its value stays in the "
                    "image history (docker history, the registry's config blob)",
                    f"pass it as a build secret: {secret_advice(name)}",
                )


RULES: tuple[Rule, ...] = (
    Rule(
        "ML001",
        Severity.ERROR,
        "base image not pinned to a version tag or digest",
        unpinned_base,
        ("DL3006", "DL3007"),
    ),
    Rule("ML002", Severity.WARNING, "final stage runs as root", root_user, ("DL3002",)),
    Rule("ML003", Severity.WARNING, "PYTHONUNBUFFERED not set in the final stage", python_buffered),
    Rule(
        "ML004",
        Severity.ERROR,
        "pip/uv install keeps its download cache in the image",
        install_cache,
        ("DL3042",),
    ),
    Rule(
        "ML005",
        Severity.WARNING,
        "app code copied before the dependency install",
        code_before_install,
    ),
    Rule(
        "ML006",
        Severity.WARNING,
        "apt lists left in the layer after apt-get install",
        apt_lists_kept,
        ("DL3009",),
    ),
    Rule(
        "ML007",
        Severity.WARNING,
        "apt-get install without --no-install-recommends",
        apt_recommends,
        ("DL3015",),
    ),
    Rule("ML008", Severity.WARNING, "no HEALTHCHECK in the final stage", missing_healthcheck),
    Rule("ML009", Severity.WARNING, "HEALTHCHECK without --start-period", healthcheck_start_period),
    Rule("ML010", Severity.WARNING, "final stage built on a CUDA -devel image", devel_image),
    Rule("ML011", Severity.WARNING, "no .dockerignore for the build context", missing_dockerignore),
    Rule("ML012", Severity.ERROR, "secret in the build context", secrets_in_context),
    Rule(
        "ML013",
        Severity.WARNING,
        "base and app requirements installed in one step",
        mixed_requirements,
    ),
    Rule(
        "ML014",
        Severity.WARNING,
        "the framework the base image ships is installed again",
        reinstalled_framework,
    ),
    Rule("ML015", Severity.WARNING, "CUDA twice: nvidia/cuda base plus torch's own", cuda_twice),
    Rule(
        "ML016",
        Severity.WARNING,
        "torch's CUDA build differs from the base image's CUDA",
        cuda_mismatch,
    ),
    Rule(
        "ML017",
        Severity.ERROR,
        "unknown Dockerfile instruction",
        unknown_instruction,
        ("DL1000",),
    ),
    Rule("ML018", Severity.ERROR, "build argument named like a secret", secret_build_arg),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


def _healthcheck(target: Subject) -> Instruction | None:
    """The HEALTHCHECK the image ends up with; `HEALTHCHECK NONE` counts as none."""
    checks = facts.inherited(target.dockerfile, target.final, "HEALTHCHECK")
    if not checks or checks[-1].operands.upper().split()[:1] in ([], ["NONE"]):
        return None
    return checks[-1]
