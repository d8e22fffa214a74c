"""OCI image labels: what, from which commit, when, and from which weights and base image."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from pipeline.oci.blobs import file_chunks
from pipeline.project.gitinfo import GitInfo

LABEL_PREFIX = "org.opencontainers.image."
BASE_DIGEST_LABEL = LABEL_PREFIX + "base.digest"
BASE_NAME_LABEL = LABEL_PREFIX + "base.name"
CREATED_LABEL = LABEL_PREFIX + "created"
MODEL_SHA_LABEL = "io.ml-release-pipeline.model.sha256"


def weights_sha256(model_dir: Path) -> str | None:
    """One digest over every file's relative path and bytes, in a stable order."""
    if not model_dir.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        for chunk in file_chunks(path):
            digest.update(chunk)
    return digest.hexdigest()


def oci_labels(
    *,
    title: str,
    version: str,
    git: GitInfo,
    base_image: str | None,
    base_digest: str | None,
    model_sha: str | None,
    extra: dict[str, str],
) -> dict[str, str]:
    labels = {
        LABEL_PREFIX + "title": title,
        LABEL_PREFIX + "version": version,
        # The commit's time, not the build's: a re-run of the same commit makes the same image.
        CREATED_LABEL: datetime.fromtimestamp(git.committed_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # `git describe --dirty`'s mark: a dirty build never claims to be the clean commit.
        LABEL_PREFIX + "revision": git.sha + ("-dirty" if git.dirty else ""),
    }
    if git.remote_url:
        labels[LABEL_PREFIX + "source"] = git.remote_url
    if base_image:
        labels[BASE_NAME_LABEL] = base_image
    if base_digest:
        labels[BASE_DIGEST_LABEL] = base_digest
    if model_sha:
        labels[MODEL_SHA_LABEL] = model_sha
    return {**labels, **extra}
