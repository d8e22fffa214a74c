"""The image a patch starts from: the nearest candidate of this branch, else the release.

This commit's own candidate comes first (a retried job: it is tagged again, unchanged); then the
nearest first-parent ancestor's, the image that differs least from this commit's; CI may have
skipped a commit or two, so a few are tried before the prior release.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.distribution.client import RegistryAPI
from pipeline.oci.image import Image
from pipeline.oci.remote import read_image
from pipeline.project.gitinfo import open_repo
from pipeline.versioning.image_tags import commit_tag

ANCESTORS_TRIED = 5


def ancestor_tags(project_dir: Path, count: int = ANCESTORS_TRIED) -> list[str]:
    """`sha-<short>` of HEAD and its first-parent ancestors, nearest first."""
    repo = open_repo(project_dir, "the prior candidate is found by commit")
    commits = repo.iter_commits("HEAD", first_parent=True, max_count=count + 1)
    return [commit_tag(commit.hexsha) for commit in commits]


def nearest_image(api: RegistryAPI, path: str, tags: list[str]) -> tuple[str, Image] | None:
    """The first of `tags` the repository holds, read (its layers stay in the registry)."""
    for tag in tags:
        if api.digest(path, tag):
            return tag, read_image(api, path, tag)
    return None
