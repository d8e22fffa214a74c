"""Secrets given as build arguments: their values stay in the image's history and config blob.

One judgement with the scan: a value in a known token format, or a value given to an argument
named like a secret (`detect.secret_key_name`, which lint's ML018 uses on ARG lines too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.core.errors import CheckFailed
from pipeline.secrets.detect import masked, secret_key_name, secret_value, token_hits
from pipeline.secrets.scan import Allowance, Finding, allow_advice, allowed

BUILD_ARGS = "image.build_args"  # the path an allowance names for a build argument
_PREFIX = "build argument "


def build_arg_findings(
    build_args: Mapping[str, str], allow: Sequence[Allowance] = ()
) -> list[Finding]:
    findings = []
    for name, value in sorted(build_args.items()):
        data = value.encode()
        hits = list(token_hits(data))
        if hits or (secret_key_name(name) and secret_value(data)):
            what = hits[0].what if hits else "a value named like a secret"
            findings.append(Finding(BUILD_ARGS, _PREFIX + name, shown=f"{what}, {masked(data)}"))
    return allowed(findings, allow)


def argument(finding: Finding) -> str:
    """The build argument a finding of `build_arg_findings` names."""
    return finding.what.removeprefix(_PREFIX)


def secret_advice(name: str) -> str:
    secret_id = name.lower()
    return (
        f"build.secrets {{{secret_id}: env:{name}}} and RUN --mount=type=secret,id={secret_id},"
        f"env={name} ..."
    )


def check_build_args(build_args: Mapping[str, str], allow: Sequence[Allowance] = ()) -> None:
    """Raises CheckFailed (exit 2) naming each build argument that carries a secret."""
    findings = build_arg_findings(build_args, allow)
    if not findings:
        return
    lines = [
        "build arguments carry secrets, which would stay in the image history; nothing was built:"
    ]
    for finding in findings:
        name = argument(finding)
        lines.append(
            f"  {name} ({finding.shown}): pass it as a build secret instead of {BUILD_ARGS} or "
            f"--build-arg: {secret_advice(name)}"
        )
    lines.append(allow_advice(findings[0]))
    raise CheckFailed("\n".join(lines))
