"""The model project's configuration: schema, loading and validation.

Precedence, lowest first: the defaults below, `pipeline.yaml`, environment variables
`PIPELINE_<SECTION>_<KEY>` (an empty one is unset; `config_env.py`), then command-line flags
(`--set section.key=value` and the per-step flags such as `build --builder`). The dataclasses
are the single source of truth: validation, environment names, CLI help and
`docs/configuration.md` all derive from them.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.config.checks import check_values
from pipeline.config.env import ENV_PREFIX, environment_settings
from pipeline.core.errors import ConfigError

CONFIG_FILE = "pipeline.yaml"
# The pipeline's own files in a project: release state, smoke reports.
STATE_DIR = Path(".pipeline")


def setting(default: Any, help: str) -> Any:
    """A configuration key: its default and the one line of help shown everywhere."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ProjectSection:
    name: str | None = setting(None, "Project name; defaults to the project directory's name.")
    dockerfile: str = setting("Dockerfile", "Dockerfile path, relative to the project directory.")
    context: str = setting(".", "Build context, relative to the project directory.")
    model_dir: str = setting(
        "model", "Model weights directory; its sha256 goes into the image labels."
    )


@dataclass(frozen=True)
class ImageSection:
    name: str | None = setting(
        None,
        "The image: a full reference (ghcr.io/team/churn, team/churn on Docker Hub) that decides"
        " the registry, or a repository path appended to registry.url; default: the project name.",
    )
    build_args: dict[str, str] = setting({}, "Build arguments passed to every build.")
    labels: dict[str, str] = setting({}, "Extra image labels, added to the OCI labels.")
    target: str | None = setting(None, "Final build stage; defaults to the Dockerfile's last.")
    platform: str | None = setting(None, "Target platform, e.g. linux/amd64.")
    network: str | None = setting(
        None, "Network mode for RUN steps during the build, e.g. host on runners without a bridge."
    )


RegistryKind = Literal["dockerhub", "ecr", "gar", "gcr", "generic"]


@dataclass(frozen=True)
class RegistrySection:
    kind: RegistryKind | None = setting(
        None,
        "Which registry API to authenticate against; default: the one image.name's host names "
        "(ECR, Artifact Registry, gcr.io, Docker Hub), else generic.",
    )
    url: str | None = setting(
        None,
        "Registry host[:port][/namespace] a bare image.name is appended to (generic, dockerhub); "
        "no default: a name without a registry host and without it is a configuration error.",
    )
    username_env: str = setting("DOCKERHUB_USERNAME", "Environment variable holding the username.")
    password_env: str = setting(
        "DOCKERHUB_TOKEN", "Environment variable holding the password or access token."
    )
    cache_repository: str | None = setting(
        None,
        "Repository path, in the same registry, for the candidate (sha-*) and build-cache tags; "
        "the release repository then holds only release tags and may be immutable. Default: "
        "the release repository.",
    )
    create_repository: bool = setting(True, "Create the repository when missing (ECR, GAR).")
    aws_region: str | None = setting(None, "ECR region; defaults to the AWS SDK's region.")
    aws_account_id: str | None = setting(
        None, "ECR registry id; defaults to the caller's account (STS)."
    )
    ecr_scan_on_push: bool = setting(True, "ECR: scan images on push when creating the repo.")
    ecr_tag_mutability: Literal["MUTABLE", "IMMUTABLE"] = setting(
        "MUTABLE", "ECR: tag mutability when creating the repository."
    )
    gcp_project: str | None = setting(None, "Artifact Registry project id.")
    gcp_location: str = setting("us", "Artifact Registry location (region or multi-region).")
    gar_repository: str | None = setting(None, "Artifact Registry repository id.")
    retries: int = setting(
        3, "Tries again after a transient registry failure (lost connection, 5xx), backing off."
    )


@dataclass(frozen=True)
class SplitSection:
    requirements: str = setting(
        "requirements.txt",
        "Requirements source: a requirements file, a lock file or a pyproject.toml ([project] "
        "or Poetry's tables).",
    )
    output_dir: str = setting(".", "Where requirements-base.txt and requirements-app.txt go.")
    base_add: list[str] = setting(
        [], "Names or glob patterns added to the built-in base (ML framework) list."
    )
    base_remove: list[str] = setting(
        [],
        "Names or glob patterns removed from the base list, and kept out of a framework's"
        " family; a package that base packages need still goes to the base.",
    )
    extras: list[str] = setting(
        [],
        "Optional dependencies (extras) of pyproject.toml or a lock file to take; the others are"
        " named and left out.",
    )
    groups: list[str] = setting(
        [],
        "Dependency groups of pyproject.toml or a lock file to take (Poetry: main, PDM: default"
        " and Pipenv: default are always taken); the others are named and left out.",
    )
    resolve: bool = setting(
        False,
        "For a requirements file without `# via` annotations, ask pip's resolver (pip install"
        " --dry-run --report; needs the package index) what each package requires.",
    )


@dataclass(frozen=True)
class LintSection:
    ignore: list[str] = setting([], "Rule IDs to skip, e.g. ML003 or DL3008.")
    hadolint: bool = setting(True, "Also run hadolint and merge its findings.")
    fail_on: Literal["error", "warning", "info"] = setting(
        "error", "Lowest severity that makes lint exit non-zero."
    )


@dataclass(frozen=True)
class SecretsSection:
    allow: list[dict[str, str]] = setting(
        [],
        "Findings of the secret scan that are no secret, each {path: <file in the build "
        "context>, finding: <the kind the finding names>}; lint and build both honour them.",
    )


@dataclass(frozen=True)
class BuildSection:
    builder: str = setting(
        "auto",
        "buildx builder: auto or buildx, the current one (docker buildx use); any other value "
        "names one of docker buildx ls (a docker-container, kubernetes or remote builder).",
    )
    docker_cli: str | None = setting(
        None, "docker CLI binary that runs buildx; default: the first on PATH that has it."
    )
    push_candidate: bool = setting(True, "Push the candidate tag sha-<short> after building.")
    secrets: dict[str, str] = setting(
        {},
        "Build secrets, id -> env:VARIABLE or file:PATH (relative to the project): buildx "
        "--secret, read by RUN --mount=type=secret,id=ID; in no layer, history entry or cache.",
    )
    allow_dirty: bool = setting(
        False,
        "Build when the build context differs from HEAD (edited or untracked files); the image "
        "is labelled <commit>-dirty and tagged sha-<short>-dirty. release never builds one.",
    )
    max_image_size: str | None = setting(
        None, "Fail when the image is larger (compressed, in the registry), e.g. 2GB."
    )
    patch: Literal["auto", "off"] = setting(
        "auto",
        "auto: when only the sources of COPYs that no RUN follows changed since a prior image of "
        "ours, make the candidate in the registry from it (those layers redone, no engine); "
        "off: always build in full.",
    )
    compression: Literal["gzip", "zstd"] = setting(
        "gzip",
        "Layer compression of the pushed image. zstd: every layer recompressed (OCI media "
        "types), faster to pull and unpack; pulled only by Docker 23+, containerd 1.5+ and "
        "registries and scanners that know OCI zstd layers.",
    )
    cache_mode: Literal["auto", "min", "max"] = setting(
        "auto",
        "What the registry cache export holds. min: the image's own layers (a cold build pushes "
        "nothing more); max: every stage's, builder stages' too. auto: max only when a stage "
        "outside the image reads the build context after a RUN (that RUN is then reusable alone).",
    )


@dataclass(frozen=True)
class SmokeSection:
    enabled: bool = setting(True, "Run the smoke test in a release.")
    gpu: Literal["auto", "required", "off"] = setting("auto", "GPU request for the container.")
    network: Literal["auto", "publish", "host", "container"] = setting(
        "auto",
        "publish: port on 127.0.0.1; host: the host's network with PORT set; container: the "
        "network of the CI job container the pipeline runs in, with PORT set; auto: container "
        "when the engine runs the pipeline's own container, else publish.",
    )
    port: int | None = setting(
        None,
        "Port the serving app listens on inside the container; default: the image's EXPOSE, "
        "else a port passed as PORT (8080; on the host network a free one, also when the image "
        "sets ENV PORT).",
    )
    env: dict[str, str] = setting({}, "Extra environment for the container.")
    volumes: dict[str, str] = setting(
        {},
        "Host path (relative to the project) -> container path, e.g. /models; read-only "
        "unless the container path ends in :rw.",
    )
    samples_dir: str = setting("smoke", "Directory of sample payloads and expected responses.")
    health: str = setting(
        "/health",
        "Path polled with GET until it answers 200 (the model is loaded); `init` sets the app's "
        "own health or readiness route (/ping, /readyz, /v2/health/ready...).",
    )
    start_period: int = setting(300, "Seconds to wait for smoke.health to answer 200.")
    requests: int = setting(20, "Requests sent to /predict for the latency figures.")
    grace_period: int = setting(30, "Seconds the container gets to exit after SIGTERM.")
    tolerance: float = setting(
        1e-6, "Allowed absolute difference between a number and its NAME.golden.json value."
    )
    report: str = setting(
        ".pipeline/smoke/report.json", "Where the JSON result goes, relative to the project."
    )
    junit: str = setting(
        ".pipeline/smoke/junit.xml", "Where the JUnit XML goes (one testcase per check)."
    )


@dataclass(frozen=True)
class VersionSection:
    file: str = setting("VERSION", "File holding the current semver version.")
    tag_prefix: str = setting("v", "Prefix of git release tags.")
    bump: Literal["auto", "major", "minor", "patch", "prerelease", "none"] = setting(
        "auto", "How the next version is chosen; auto reads conventional commits."
    )
    prerelease_branches: list[str] = setting([], "Branches (globs) that release -rc.N versions.")
    prerelease_id: str = setting("rc", "Prerelease identifier.")
    refuse_dirty: bool = setting(False, "Refuse to version a working tree with changes.")
    push_tag: bool = setting(
        True, "Release: push the release commit and tag to the git remote (false: local only)."
    )
    image_tags: list[str] = setting(
        ["{version}", "{major}.{minor}", "{major}", "latest", "sha-{sha}"],
        "Image tags of a release; {major}.{minor}, {major} and latest move only forward.",
    )


@dataclass(frozen=True)
class SignSection:
    key: str | None = setting(
        None,
        "cosign key that signs and attests each release (a file, as `cosign generate-key-pair` "
        "writes it, or env://VAR); its password from COSIGN_PASSWORD. Set: signing is on.",
    )
    keyless: bool = setting(
        False, "Sign keyless with the CI's OIDC identity (Sigstore) instead of sign.key."
    )


@dataclass(frozen=True)
class Config:
    project: ProjectSection = field(default_factory=ProjectSection)
    image: ImageSection = field(default_factory=ImageSection)
    registry: RegistrySection = field(default_factory=RegistrySection)
    split: SplitSection = field(default_factory=SplitSection)
    lint: LintSection = field(default_factory=LintSection)
    secrets: SecretsSection = field(default_factory=SecretsSection)
    build: BuildSection = field(default_factory=BuildSection)
    smoke: SmokeSection = field(default_factory=SmokeSection)
    version: VersionSection = field(default_factory=VersionSection)
    sign: SignSection = field(default_factory=SignSection)
    project_dir: Path = field(default=Path("."), compare=False)
    # key path -> where its value came from, for `pipeline config`
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def project_name(self) -> str:
        return self.project.name or self.project_dir.resolve().name

    @property
    def image_name(self) -> str:
        return self.image.name or self.project_name

    def path(self, relative: str) -> Path:
        return self.project_dir / relative

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in section_names()}


def section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config) if f.name not in ("project_dir", "sources")]


def section_fields(section: str) -> dict[str, dataclasses.Field[Any]]:
    section_type = typing.get_type_hints(Config)[section]
    return {f.name: f for f in dataclasses.fields(section_type)}


def key_type(section: str, key: str) -> Any:
    section_type = typing.get_type_hints(Config)[section]
    return typing.get_type_hints(section_type)[key]


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def setting_variables() -> list[str]:
    return [
        env_name(section, key) for section in section_names() for key in section_fields(section)
    ]


def describe_type(annotation: Any) -> str:
    """Human wording of a key's type, used in errors and docs."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if _is_optional(annotation):
        return describe_type(_optional_inner(annotation)) + " or null"
    origin = typing.get_origin(annotation)
    if origin is list:
        return (
            "a list of {path, finding} mappings"
            if _of_mappings(annotation)
            else ("a list of strings")
        )
    if origin is dict:
        return "a mapping of strings to strings"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[
        annotation
    ]


def _of_mappings(annotation: Any) -> bool:
    return typing.get_origin(typing.get_args(annotation)[0]) is dict


def _is_optional(annotation: Any) -> bool:
    # `X | None` of a Literal alias is a typing.Union, of a plain type a types.UnionType.
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    return union and type(None) in typing.get_args(annotation)


def _optional_inner(annotation: Any) -> Any:
    return next(a for a in typing.get_args(annotation) if a is not type(None))


class _Invalid(Exception):
    """A value does not fit its key; the caller adds where it came from."""


def _coerce(value: Any, annotation: Any, from_text: bool) -> Any:
    """Check `value` against `annotation`; text from env/CLI is parsed first."""
    if _is_optional(annotation):
        if value is None or (from_text and value in ("", "null", "none")):
            return None
        return _coerce(value, _optional_inner(annotation), from_text)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        # YAML 1.1 reads a bare `off` (or `no`) as false: `patch: off` means the choice "off".
        if isinstance(value, bool) and ("on" if value else "off") in allowed:
            value = "on" if value else "off"
        if value not in allowed:
            raise _Invalid(f"{_shown(value)} is not {describe_type(annotation)}")
        return value
    if origin is list and _of_mappings(annotation):
        if from_text:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise _Invalid(f"{value!r} is not a JSON list: {exc.msg}") from exc
        return _mappings(value)
    if origin is list:
        if from_text:
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _Invalid(f"{value!r} is not {describe_type(annotation)}")
        return value
    if origin is dict:
        if from_text:
            value = _parse_mapping_text(value)
        if not isinstance(value, dict):
            raise _Invalid(f"{value!r} is not {describe_type(annotation)}")
        # YAML turns `PORT: 8080` into an int; a string mapping is what docker wants.
        for k, v in value.items():
            if not isinstance(k, str) or isinstance(v, dict | list) or v is None:
                raise _Invalid(f"{k}: {v!r} is not a string value")
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    if annotation is bool:
        if from_text:
            lowered = value.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise _Invalid(f"{value!r} is not true or false")
        return value
    if annotation is int:
        if from_text and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(f"{value!r} is not an integer")
        return value
    if annotation is float:
        if from_text:
            try:
                return float(value)
            except ValueError as exc:
                raise _Invalid(f"{value!r} is not a number") from exc
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
            mantissa, exponent = re.split("[eE]", value)
            written = mantissa if "." in mantissa else f"{mantissa}.0"
            written += "e" + (exponent if exponent[:1] in ("+", "-") else f"+{exponent}")
            raise _Invalid(f"{value!r} is text to YAML, not a number; write {written}")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _Invalid(f"{_shown(value)} is not a number")
        return float(value)
    if not isinstance(value, str):
        raise _Invalid(f"{_shown(value)} is not a string")
    return value


# YAML 1.1 reads a number in exponent form as text unless it has a dot and a signed exponent.
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _shown(value: Any) -> str:
    """`value` as the YAML file wrote it, where Python's repr would mislead."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (YAML reads an unquoted yes, no, on or off as a boolean)"
    return repr(value)


# The one list of mappings, secrets.allow: its entries' keys.
_ENTRY_KEYS = ("path", "finding")


def _mappings(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _Invalid(f"{_shown(value)} is not a list of {{path, finding}} mappings")
    for number, entry in enumerate(value, 1):
        if (
            not isinstance(entry, dict)
            or sorted(entry) != sorted(_ENTRY_KEYS)
            or not all(isinstance(v, str) and v for v in entry.values())
        ):
            raise _Invalid(
                f"entry {number}, {_shown(entry)}: write {{path: <file>, finding: <kind>}}, "
                'e.g. {path: "model.env", finding: ".env entry MAX_TOKENS"}'
            )
    return value


def _parse_mapping_text(text: str) -> dict[str, str]:
    """Accept JSON (`{"A": "1"}`) or `A=1,B=2` from an environment variable or flag."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise _Invalid(f"{text!r} is not valid JSON: {exc.msg}") from exc
        return parsed
    result: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in stripped.split(","))):
        key, sep, val = item.partition("=")
        if not sep:
            raise _Invalid(f"{item!r} is not KEY=VALUE")
        result[key.strip()] = val.strip()
    return result


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(choices)}"


def parse_override(text: str) -> tuple[str, str]:
    """`section.key=value` from `--set`."""
    path, sep, value = text.partition("=")
    if not sep or "." not in path:
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. image.network=host")
    return path.strip(), value


def load_config(
    project_dir: Path,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: list[tuple[str, str]] | None = None,
) -> Config:
    """Resolve the configuration of the project in `project_dir`.

    `overrides` are (`section.key`, text) pairs from the command line, applied last.
    """
    environ = environ if environ is not None else {}
    path = config_file or project_dir / CONFIG_FILE
    if config_file is not None and not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    # Imported here: PyYAML costs start-up time that `--help` does not need.
    from pipeline.config.yamlfile import read_mapping

    raw = read_mapping(path) if path.is_file() else {}
    label = str(path)

    values: dict[str, dict[str, Any]] = {name: {} for name in section_names()}
    sources: dict[str, str] = {}

    for section, body in raw.items():
        if section not in values:
            raise ConfigError(
                f"{label}: {section}: unknown section" + _did_you_mean(str(section), list(values))
            )
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{label}: {section}: must be a mapping of keys, not {body!r}")
        known = section_fields(section)
        for key, value in body.items():
            if key not in known:
                raise ConfigError(
                    f"{label}: {section}.{key}: unknown key" + _did_you_mean(str(key), list(known))
                )
            try:
                values[section][key] = _coerce(value, key_type(section, key), from_text=False)
            except _Invalid as exc:
                raise ConfigError(f"{label}: {section}.{key}: {exc}") from exc
            sources[f"{section}.{key}"] = label

    given = environment_settings(environ, setting_variables())
    for section in values:
        for key in section_fields(section):
            if found := given.get(env_name(section, key)):
                text, origin = found
                values[section][key] = _coerce_text(text, section, key, origin)
                sources[f"{section}.{key}"] = origin

    for dotted, text in overrides or []:
        section, _, key = dotted.partition(".")
        if section not in values:
            raise ConfigError(
                f"--set {dotted}: unknown section" + _did_you_mean(section, list(values))
            )
        known = section_fields(section)
        if key not in known:
            raise ConfigError(f"--set {dotted}: unknown key" + _did_you_mean(key, list(known)))
        values[section][key] = _coerce_text(text, section, key, "command line")
        sources[dotted] = "command line"

    hints = typing.get_type_hints(Config)
    sections = {name: hints[name](**values[name]) for name in values}
    config = Config(**sections, project_dir=project_dir, sources=sources)
    check_values(config.as_dict(), sources)
    return config


def _coerce_text(text: str, section: str, key: str, origin: str) -> Any:
    annotation = key_type(section, key)
    try:
        return _coerce(text, annotation, from_text=True)
    except _Invalid as exc:
        raise ConfigError(f"{origin}: {section}.{key}: {exc}") from exc
