"""The release's outcome for people, for GitHub Actions and for GitLab CI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError
from pipeline.core.sizes import human_size
from pipeline.distribution.reference import ImageRef
from pipeline.release.state import ReleaseState

# The files GitHub Actions has a job append its outputs and its summary to.
CI_OUTPUTS = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


def summary_rows(state: ReleaseState) -> list[tuple[str, str]]:
    facts = state.facts
    if state.no_release_reason:
        version = f"no release ({state.no_release_reason})"
    else:
        version = state.version or "- (not decided yet)"
    rows = [("version", version)]
    rows.append(("tags", ", ".join(state.tags) or "-"))
    rows.append(("image", state.candidate or "-"))
    if "image_size" in facts:
        # Unpacked only when the engine kept the image; compressed, as the registry holds it.
        compressed = facts.get("compressed_size")
        size = human_size(facts["image_size"])
        rows.append(
            ("image size", f"{size} ({human_size(compressed)} compressed)" if compressed else size)
        )
    if facts.get("cache_hit_ratio") is not None:
        rows.append(("cache hit ratio", f"{facts['cache_hit_ratio']:.0%}"))
    if "build_backend" in facts:
        rows.append(("build", f"{facts['build_backend']}, {facts.get('build_seconds', 0):.1f}s"))
    if facts.get("latency_ms"):
        latency = facts["latency_ms"]
        rows.append(("smoke latency", f"p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms"))
    if "gpu" in facts:
        gpu = facts["gpu"]
        rows.append(("gpu", gpu.get("note") or ("used" if gpu.get("used") else "not used")))
    steps = ", ".join(f"{step} {state.seconds.get(step, 0):.1f}s" for step in state.done)
    rows.append(("steps", steps or "-"))
    return rows


def text_summary(state: ReleaseState) -> str:
    rows = summary_rows(state)
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def json_summary(state: ReleaseState) -> dict[str, Any]:
    return {
        "version": state.version,
        "tags": state.tags,
        "candidate": state.candidate,
        "digest": digest_of(state.candidate),
        "no_release_reason": state.no_release_reason,
        "steps_done": state.done,
        "seconds": state.seconds,
        **state.facts,
    }


def digest_of(reference: str | None) -> str | None:
    return ImageRef.parse(reference).digest if reference else None


def ci_values(state: ReleaseState) -> dict[str, str]:
    return {
        "version": state.version or "",
        "tags": ",".join(state.tags),
        "digest": digest_of(state.candidate) or "",
        "image": state.candidate or "",
    }


def write_github(state: ReleaseState, environ: dict[str, str] | None = None) -> None:
    """Outputs and the job summary, when running inside GitHub Actions."""
    environ = dict(os.environ) if environ is None else environ
    output_name, summary_name = CI_OUTPUTS
    if output := environ.get(output_name):
        values = "".join(f"{key}={value}\n" for key, value in ci_values(state).items())
        _write(Path(output), values, "a", output_name)
    if summary := environ.get(summary_name):
        lines = ["### Model release", "", "| | |", "| --- | --- |"]
        lines += [f"| {name} | `{value}` |" for name, value in summary_rows(state)]
        _write(Path(summary), "\n".join(lines) + "\n", "a", summary_name)


def write_dotenv(state: ReleaseState, path: Path) -> None:
    """For GitLab's `artifacts: reports: dotenv`: later jobs get these as variables."""
    values = ci_values(state)
    lines = [
        f"IMAGE_DIGEST={values['digest']}",
        f"IMAGE_REF={values['image']}",
        f"IMAGE_TAGS={values['tags']}",
        f"VERSION={values['version']}",
    ]
    _write(path, "\n".join(lines) + "\n", "w", "--dotenv")


def _write(path: Path, text: str, mode: str, what: str) -> None:
    """The preflight checked `path`; one that broke since is an error, never a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open(mode, encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UserError(
            f"{what} {path}: cannot write: {exc.strerror}; the release itself is done (see "
            "its state in .pipeline/release-state.json); fix the path and run it again to "
            "write this"
        ) from exc
