"""Retention: old candidate (`sha-*`) and build-cache (`buildcache-sha-*`) tags removed, never a
released image.

One candidate and one cache export pile up per commit built. Kept: the tags of the newest
`keep` commits of HEAD's history, `buildcache` itself, and every image a release tag (semver,
`latest`, anything not a candidate's or cache's name) points at, in the release repository or
the cache repository. A manifest is deleted by digest, which removes every tag on it, so an
image is deleted only when all its tags are ones to prune. What is attached to an image by a tag
named after its digest (the build's `.built` record, cosign's `.sig`/`.att`) goes with it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.core.errors import UserError
from pipeline.registries import Target

# The build's own tags: candidate sha-<short>[-dirty], its cache export buildcache-sha-<short>,
# a stage spliced into it sha-<short>-stage-<name>.
PRUNABLE = re.compile(r"(?:buildcache-)?sha-(?P<sha>[0-9a-f]{7,40})(?:-dirty|-stage-[a-z0-9_.-]+)?")
# An artifact about the image of that digest: no release, and no use once the image is gone.
ATTACHED = re.compile(r"(?P<algorithm>sha256)-(?P<hex>[0-9a-f]{64})\.(?:built|sig|att|sbom)")


@dataclass(frozen=True)
class PruneReport:
    repository: str
    deleted: tuple[str, ...] = ()  # tags, removed with their manifests
    kept: tuple[str, ...] = ()  # prunable tags kept: recent, or on a released image
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "repository": self.repository,
            "deleted": list(self.deleted),
            "kept": list(self.kept),
            "dry_run": self.dry_run,
        }

    def text(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return f"prune {self.repository}: {verb} {len(self.deleted)} tag(s), kept {len(self.kept)}"


def recent_commits(project_dir: str, keep: int) -> set[str]:
    """The short shas of HEAD's newest `keep` commits."""
    try:
        done = subprocess.run(
            ["git", "rev-list", f"--max-count={keep}", "HEAD"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UserError(f"prune: cannot read the git history in {project_dir}: {exc}") from exc
    return {sha[:7] for sha in done.stdout.split()}


def prune(
    target: Target,
    recent: set[str],
    dry_run: bool = False,
    note: Callable[[str], None] | None = None,
) -> PruneReport:
    api = target.api(note)
    staging = target.staging
    tags = api.tags(staging.path)
    released: set[str] = set()
    for repository in dict.fromkeys([target.repository.path, staging.path]):
        for tag in api.tags(repository):
            if not (PRUNABLE.fullmatch(tag) or ATTACHED.fullmatch(tag) or tag == "buildcache"):
                released.add(api.digest(repository, tag) or "")
    attached: dict[str, list[str]] = {}  # by the digest of the image they are about
    by_digest: dict[str, list[str]] = {}
    for tag in tags:
        if m := ATTACHED.fullmatch(tag):
            attached.setdefault(f"{m['algorithm']}:{m['hex']}", []).append(tag)
        elif digest := api.digest(staging.path, tag):
            by_digest.setdefault(digest, []).append(tag)
    deleted: list[str] = []
    kept: list[str] = []
    for digest, on_it in sorted(by_digest.items()):
        prunable = [tag for tag in on_it if PRUNABLE.fullmatch(tag)]
        old = all((m := PRUNABLE.fullmatch(tag)) and m["sha"][:7] not in recent for tag in on_it)
        if digest in released or not old:
            kept += prunable
            continue
        for tag in attached.get(digest, []):
            if not dry_run and (artifact := api.digest(staging.path, tag)):
                api.delete_manifest(staging.path, artifact)
            deleted.append(tag)
        if not dry_run:
            api.delete_manifest(staging.path, digest)
        deleted += on_it
    return PruneReport(str(staging), tuple(sorted(deleted)), tuple(sorted(kept)), dry_run)
